/* Autosave: a form marked data-brouillon is saved server-side as the person types (1.5 s after the last
   keystroke), so that an ended session, a closed tab or a lost race never loses what was typed.
   Without JavaScript the « Enregistrer le brouillon » button does the same. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-brouillon]");
  if (!form || !window.fetch || !window.FormData) { return; }
  var url = form.getAttribute("data-brouillon");
  var status = document.getElementById("etat-brouillon");
  var skipped = { csrf_token: true, action: true, idempotency_key: true };
  var timer = null;
  var lastSaved = null;
  var delay = parseInt(form.getAttribute("data-brouillon-delai") || "1500", 10);

  function say(text) {
    if (status) { status.textContent = text; }
  }

  function values() {
    var out = {};
    new FormData(form).forEach(function (value, key) {
      if (skipped[key] || typeof value !== "string") { return; }
      if (Object.prototype.hasOwnProperty.call(out, key)) {
        if (!Array.isArray(out[key])) { out[key] = [out[key]]; }
        out[key].push(value);
      } else {
        out[key] = value;
      }
    });
    return out;
  }

  function save() {
    timer = null;
    var body = JSON.stringify({ valeurs: values() });
    if (body === lastSaved) { return; }
    var token = form.querySelector("input[name=csrf_token]");
    fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": token ? token.value : "" },
      body: body
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (response.ok) {
          lastSaved = body;
          form.setAttribute("data-brouillon-enregistre", answer.enregistre || "");
          say("Brouillon enregistré automatiquement à " + (answer.heure || "") + ".");
        } else if (response.status === 401) {
          say(answer.message || "Votre session a pris fin : reconnectez-vous. Votre saisie est conservée.");
        } else {
          say(answer.message || "Le brouillon n'a pas pu être enregistré automatiquement.");
        }
      });
    }).catch(function () {
      say("Enregistrement automatique impossible pour le moment (connexion perdue) ; votre saisie reste dans la page.");
    });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(save, delay);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
}());
