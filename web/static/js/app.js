/* Progressive enhancements only: every page works without JavaScript. */
(function () {
  "use strict";
  // After a refused submission, move the focus to the error summary so screen readers announce it.
  var summary = document.getElementById("resume-erreurs");
  if (summary) { summary.focus(); }

  // On a phone the header's menu starts folded (it is open without JavaScript, and on wide screens).
  var menu = document.getElementById("entete-menu");
  if (menu && window.matchMedia && window.matchMedia("(max-width: 48rem)").matches) { menu.open = false; }

  function thousands(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u00a0");
  }

  // Counters: « 20 412 / 20 000 caractères ». Text over the limit is never cut; the server refuses it.
  function updateCounter(input) {
    var counter = document.getElementById(input.getAttribute("data-compteur") || "compteur-" + input.name);
    var limit = parseInt(input.getAttribute("data-limite"), 10);
    if (!counter || !limit) { return; }
    var typed = input.value.length;
    var text = thousands(typed) + "\u00a0/ " + thousands(limit) + "\u00a0caractères";
    if (typed > limit) { text += " - trop long de " + thousands(typed - limit) + "\u00a0caractères"; }
    counter.textContent = text;
    counter.classList.toggle("compteur-depasse", typed > limit);
  }
  document.addEventListener("input", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-limite")) { updateCounter(event.target); }
  });

  // Date coherence, mirrored from the server's checks (workflow/form_schemas.py): nothing in the future,
  // and a date not after the one it names (data-pas-apres).
  function dateMessage(input) {
    if (!input.value) { return ""; }
    var value = new Date(input.value);
    if (input.hasAttribute("data-pas-futur") && value.getTime() > Date.now() + 60000) {
      return "Cette date est dans le futur : saisissez une date passée.";
    }
    var otherName = input.getAttribute("data-pas-apres");
    var other = otherName ? input.form.elements[otherName] : null;
    if (other && other.value && value.getTime() > new Date(other.value).getTime()) {
      return "Cette date ne peut pas être postérieure à « " + input.getAttribute("data-pas-apres-titre") + " ».";
    }
    return "";
  }
  function checkDate(input) {
    var box = document.getElementById("champ-" + input.name);
    if (!box) { return; }
    var id = "erreur-client-" + input.name;
    var shown = document.getElementById(id);
    var message = dateMessage(input);
    if (!message) {
      if (shown) { shown.parentNode.removeChild(shown); input.removeAttribute("aria-invalid"); }
      return;
    }
    if (!shown) {
      shown = document.createElement("p");
      shown.className = "message-erreur";
      shown.id = id;
      shown.setAttribute("role", "status");
      input.parentNode.insertBefore(shown, input);
      var described = input.getAttribute("aria-describedby");
      input.setAttribute("aria-describedby", (described ? described + " " : "") + id);
    }
    shown.textContent = "Erreur : " + message;
    input.setAttribute("aria-invalid", "true");
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.form || !/^(date|datetime-local)$/.test(target.type || "")) { return; }
    Array.prototype.forEach.call(target.form.querySelectorAll("input[data-pas-futur], input[data-pas-apres]"),
                                 checkDate);
  });

  // « Ajouter une ligne »: a copy of the last row, emptied, without a round trip; every row keeps its values
  // and the focus goes to the new row's first field. (Without JavaScript the server adds the row.)
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-ajouter-ligne]") : null;
    if (!button) { return; }
    var name = button.getAttribute("data-ajouter-ligne");
    var rows = button.parentNode.querySelectorAll("fieldset.ligne-objet");
    if (!rows.length) { return; }
    event.preventDefault();
    var pattern = new RegExp("^(f-|erreur-|aide-|compteur-|champ-)?" + name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") +
                             "-(\\d+)-");
    var next = 0;
    Array.prototype.forEach.call(button.parentNode.querySelectorAll("[name]"), function (el) {
      var found = pattern.exec(el.getAttribute("name"));
      if (found) { next = Math.max(next, parseInt(found[2], 10) + 1); }
    });
    var copy = rows[rows.length - 1].cloneNode(true);
    var rename = function (value) {
      return value.replace(new RegExp(pattern.source.slice(1), "g"), function (all, prefix) {
        return (prefix || "") + name + "-" + next + "-";
      });
    };
    Array.prototype.forEach.call(copy.querySelectorAll("*"), function (el) {
      ["id", "name", "for", "aria-describedby"].forEach(function (attr) {
        if (el.hasAttribute(attr)) { el.setAttribute(attr, rename(el.getAttribute(attr))); }
      });
      el.removeAttribute("aria-invalid");
      el.removeAttribute("autofocus");
      if (el.tagName === "INPUT" && el.type !== "checkbox" && el.type !== "radio") { el.value = ""; }
      if (el.tagName === "INPUT" && (el.type === "checkbox" || el.type === "radio")) { el.checked = false; }
      if (el.tagName === "TEXTAREA") { el.value = ""; }
      if (el.tagName === "SELECT") { el.selectedIndex = 0; }
    });
    Array.prototype.forEach.call(copy.querySelectorAll(".message-erreur"), function (el) {
      el.parentNode.removeChild(el);
    });
    Array.prototype.forEach.call(copy.querySelectorAll(".champ-erreur"), function (el) {
      el.classList.remove("champ-erreur");
    });
    copy.setAttribute("data-ligne", String(rows.length));
    var legend = copy.querySelector("legend");
    if (legend) { legend.textContent = "Ligne " + (rows.length + 1); }
    rows[rows.length - 1].parentNode.insertBefore(copy, rows[rows.length - 1].nextSibling);
    Array.prototype.forEach.call(copy.querySelectorAll("[data-limite]"), updateCounter);
    var first = copy.querySelector("input, select, textarea");
    if (first) { first.focus(); }
  });
}());
