/* The process owners' modeller: bpmn-js Modeler with the spiffworkflow extension, our properties panel
   (modeller-panel.js), drafts saved as one works, the validator's problems on the diagram, and the form
   editor with a live preview. Every call goes to /admin/processus/modeleur/… with the CSRF token. */
(function () {
  "use strict";

  var root = document.getElementById("modeleur");
  if (!root || !window.BpmnJS) { return; }
  var config = JSON.parse(document.getElementById("config-modeleur").textContent);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var state = { forms: {}, editedForms: {}, baseForms: {}, saveTimer: null, overlays: [] };
  var status = document.getElementById("etat-modeleur");
  var modeler;

  function say(text) { status.textContent = text; }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var read = type.indexOf("json") >= 0 ? response.json() : response.text();
      return read.then(function (data) { return { ok: response.ok, status: response.status, data: data }; });
    });
  }

  function currentXml() { return modeler.saveXML({ format: true }).then(function (r) { return r.xml; }); }

  function saveDraft() {
    clearTimeout(state.saveTimer);
    return currentXml().then(function (xml) {
      return post(config.urls.save, { xml: xml, forms: state.editedForms });
    }).then(function (r) {
      if (r.ok) {
        say("Brouillon enregistré à " + new Date(r.data.saved_at).toLocaleTimeString("fr-FR") + ".");
        root.setAttribute("data-draft", "saved");
      } else {
        say(r.data.detail || "Le brouillon n'a pas pu être enregistré.");
      }
      return r;
    });
  }

  function scheduleSave() {
    root.setAttribute("data-draft", "pending");
    clearTimeout(state.saveTimer);
    state.saveTimer = setTimeout(saveDraft, 1500);
  }

  function clearProblems() {
    var overlays = modeler.get("overlays");
    state.overlays.forEach(function (id) { overlays.remove(id); });
    state.overlays = [];
    modeler.get("elementRegistry").forEach(function (el) { modeler.get("canvas").removeMarker(el.id, "probleme"); });
  }

  function showProblems(result) {
    clearProblems();
    var list = document.getElementById("problemes");
    list.innerHTML = "";
    var registry = modeler.get("elementRegistry");
    var overlays = modeler.get("overlays");
    (result.problems || []).forEach(function (problem) {
      var item = document.createElement("li");
      item.textContent = problem.line;
      if (problem.element_id && registry.get(problem.element_id)) {
        var link = document.createElement("button");
        link.type = "button";
        link.className = "lien";
        link.textContent = "Voir l'élément";
        link.addEventListener("click", function () {
          modeler.get("selection").select(registry.get(problem.element_id));
          modeler.get("canvas").scrollToElement(registry.get(problem.element_id));
        });
        item.appendChild(document.createTextNode(" "));
        item.appendChild(link);
        modeler.get("canvas").addMarker(problem.element_id, "probleme");
        var badge = document.createElement("div");
        badge.className = "badge-probleme";
        badge.title = problem.text;
        badge.textContent = "!";
        state.overlays.push(overlays.add(problem.element_id, { position: { top: -12, right: 12 }, html: badge }));
      }
      list.appendChild(item);
    });
    var summary = document.getElementById("bilan-verification");
    summary.textContent = result.ok ? "Aucun problème : le fichier peut passer à l'essai à blanc."
      : (result.problems.length + (result.problems.length > 1 ? " problèmes" : " problème") + " à corriger.");
    if (!result.linted) { summary.textContent += " (bpmnlint n'est pas disponible sur ce serveur : ses règles n'ont pas été vérifiées.)"; }
    root.setAttribute("data-checked", result.ok ? "ok" : "problems");
  }

  function check() {
    say("Vérification en cours…");
    return currentXml().then(function (xml) {
      return post(config.urls.check, { xml: xml, forms: state.editedForms });
    }).then(function (r) {
      if (!r.ok) { say(r.data.detail || "Vérification impossible."); return r; }
      showProblems(r.data);
      say("Vérification terminée.");
      return r;
    });
  }

  function dryRun() {
    say("Envoi à l'essai à blanc…");
    return saveDraft().then(currentXml).then(function (xml) {
      var data = new FormData();
      data.append("csrf_token", csrf);
      data.append(config.upload.bpmn_field, new Blob([xml], { type: "application/xml" }), config.upload.bpmn_name);
      Object.keys(state.editedForms).forEach(function (name) {
        data.append(config.upload.form_field, new Blob([JSON.stringify(state.editedForms[name], null, 2)],
          { type: "application/json" }), name);
      });
      return fetch(config.urls.upload, { method: "POST", credentials: "same-origin", body: data });
    }).then(function (response) {
      if (response.redirected) { window.location.href = response.url; return; }
      return response.text().then(function (html) {
        document.open(); document.write(html); document.close();
      });
    });
  }

  function discard() {
    if (!window.confirm("Abandonner le brouillon et repartir de la version active ?")) { return; }
    post(config.urls.discard, {}).then(function () { window.location.reload(); });
  }

  /* Forms: the editor shows one schema and its UI schema; a change re-renders the preview (debounced). */
  var previewTimer = null;
  function formText(name) { return JSON.stringify(state.forms[name] || {}, null, 2); }

  function openForm(name) {
    var ui = name.replace(/\.schema\.json$/, ".uischema.json");
    document.getElementById("schema-json").value = formText(name);
    document.getElementById("uischema-json").value = formText(ui);
    document.getElementById("schema-json").dataset.name = name;
    document.getElementById("uischema-json").dataset.name = ui;
    refreshPreview();
  }

  function readJson(textarea, errorBox) {
    try {
      var value = JSON.parse(textarea.value || "{}");
      errorBox.textContent = "";
      textarea.removeAttribute("aria-invalid");
      return value;
    } catch (e) {
      errorBox.textContent = "JSON invalide : " + e.message;
      textarea.setAttribute("aria-invalid", "true");
      return null;
    }
  }

  function formEdited() {
    var schemaBox = document.getElementById("schema-json");
    var uiBox = document.getElementById("uischema-json");
    var schema = readJson(schemaBox, document.getElementById("erreur-schema"));
    var ui = readJson(uiBox, document.getElementById("erreur-uischema"));
    if (schema === null || ui === null) { return; }
    [[schemaBox.dataset.name, schema], [uiBox.dataset.name, ui]].forEach(function (pair) {
      if (JSON.stringify(pair[1]) !== JSON.stringify(state.baseForms[pair[0]] || {})) {
        state.editedForms[pair[0]] = pair[1];
      } else {
        delete state.editedForms[pair[0]];
      }
      state.forms[pair[0]] = pair[1];
    });
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 400);
    scheduleSave();
  }

  function refreshPreview() {
    var name = document.getElementById("schema-json").dataset.name;
    var ui = document.getElementById("uischema-json").dataset.name;
    var box = document.getElementById("apercu-formulaire");
    post(config.urls.preview, { schema: state.forms[name] || {}, uischema: state.forms[ui] || {} }).then(function (r) {
      if (r.ok) { box.innerHTML = r.data; } else { box.textContent = r.data.detail || "Aperçu impossible."; }
      box.setAttribute("data-ready", r.ok ? "1" : "error");
    });
  }

  function zoom(step) {
    var canvas = modeler.get("canvas");
    if (step === 0) { canvas.zoom("fit-viewport"); } else { canvas.zoom(canvas.zoom() * step); }
  }

  modeler = new window.BpmnJS({
    container: document.getElementById("toile-modeleur"),
    keyboard: { bindTo: document },
    moddleExtensions: { spiffworkflow: config.moddle }
  });

  fetch(config.urls.file, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (file) {
    state.forms = file.forms;
    state.baseForms = JSON.parse(JSON.stringify(file.forms));
    (file.draft_forms || []).forEach(function (name) { state.editedForms[name] = file.forms[name]; });
    return modeler.importXML(file.xml).then(function () {
      modeler.get("canvas").zoom("fit-viewport");
      window.SignalementPanel.attach(modeler, config, document.getElementById("proprietes"));
      modeler.get("eventBus").on("commandStack.changed", scheduleSave);
      var select = document.getElementById("choix-formulaire");
      config.forms.forEach(function (name) {
        var option = document.createElement("option");
        option.value = name; option.textContent = name.replace(/\.schema\.json$/, "");
        select.appendChild(option);
      });
      select.addEventListener("change", function () { openForm(select.value); });
      if (config.forms.length) { openForm(config.forms[0]); }
      say(file.draft_saved_at ? "Brouillon repris." : "Version active ouverte (version " + file.base_version + ").");
      root.setAttribute("data-ready", "1");
    });
  }).catch(function (error) {
    say("Le modeleur n'a pas pu s'ouvrir : " + error.message);
    root.setAttribute("data-ready", "error");
  });

  document.getElementById("schema-json").addEventListener("input", formEdited);
  document.getElementById("uischema-json").addEventListener("input", formEdited);
  document.getElementById("bouton-verifier").addEventListener("click", check);
  document.getElementById("bouton-brouillon").addEventListener("click", saveDraft);
  document.getElementById("bouton-essai").addEventListener("click", dryRun);
  document.getElementById("bouton-abandonner").addEventListener("click", discard);
  document.getElementById("zoom-plus").addEventListener("click", function () { zoom(1.25); });
  document.getElementById("zoom-moins").addEventListener("click", function () { zoom(0.8); });
  document.getElementById("zoom-ajuster").addEventListener("click", function () { zoom(0); });
  window.SignalementModeler = { modeler: function () { return modeler; }, check: check, save: saveDraft };
}());
