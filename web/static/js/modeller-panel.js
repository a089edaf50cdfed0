/* Properties panel of the modeller: what a process owner changes on the selected element, written into the
   BPMN through bpmn-js commands (so undo/redo and the draft save follow). Pickers come from the server:
   forms of the version, registered service operators with their parameters, lane roles. */
(function () {
  "use strict";

  var SPIFF = "spiffworkflow:";

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function field(id, label, input, help) {
    var box = h("div", { "class": "champ" }, [h("label", { "for": id, text: label })]);
    if (help) { input.setAttribute("aria-describedby", id + "-aide"); box.appendChild(h("p", { "class": "aide", id: id + "-aide", text: help })); }
    input.id = id;
    box.appendChild(input);
    return box;
  }

  function textInput(value, onChange, multiline) {
    var input = h(multiline ? "textarea" : "input", multiline ? { rows: "3" } : { type: "text" });
    input.value = value || "";
    input.addEventListener("change", function () { onChange(input.value); });
    return input;
  }

  function selectInput(options, value, onChange, empty) {
    var input = h("select", {});
    if (empty !== undefined) { input.appendChild(h("option", { value: "", text: empty })); }
    options.forEach(function (o) {
      var option = h("option", { value: o[0], text: o[1] });
      if (o[0] === value) { option.selected = true; }
      input.appendChild(option);
    });
    input.addEventListener("change", function () { onChange(input.value); });
    return input;
  }

  function attach(modeler, config, panel) {
    var modeling = modeler.get("modeling");
    var moddle = modeler.get("moddle");

    function extensions(bo) { return (bo.extensionElements && bo.extensionElements.values) || []; }
    function findExt(bo, type) { return extensions(bo).filter(function (v) { return v.$type === SPIFF + type; })[0]; }

    function ensureExtensions(element) {
      var bo = element.businessObject;
      if (!bo.extensionElements) {
        modeling.updateProperties(element, { extensionElements: moddle.create("bpmn:ExtensionElements", { values: [] }) });
      }
      return bo.extensionElements;
    }

    function addExt(element, created) {
      var ext = ensureExtensions(element);
      modeling.updateModdleProperties(element, ext, { values: ext.get("values").concat([created]) });
      return created;
    }

    function spiffProperty(bo, name) {
      var props = findExt(bo, "properties");
      var found = props && props.get("properties").filter(function (p) { return p.name === name; })[0];
      return found ? found.value : "";
    }

    function setSpiffProperty(element, name, value) {
      var bo = element.businessObject;
      var props = findExt(bo, "properties") || addExt(element, moddle.create(SPIFF + "properties", { properties: [] }));
      var existing = props.get("properties").filter(function (p) { return p.name === name; })[0];
      if (existing) {
        modeling.updateModdleProperties(element, existing, { value: value });
      } else {
        modeling.updateModdleProperties(element, props, {
          properties: props.get("properties").concat([moddle.create(SPIFF + "property", { name: name, value: value })])
        });
      }
    }

    function documentation(bo) { return (bo.documentation && bo.documentation[0] && bo.documentation[0].text) || ""; }

    function timerOf(bo) {
      return (bo.eventDefinitions || []).filter(function (d) { return d.$type === "bpmn:TimerEventDefinition"; })[0];
    }

    function common(element, box) {
      var bo = element.businessObject;
      box.appendChild(h("p", { "class": "meta", text: bo.$type.replace("bpmn:", "") + " « " + bo.id + " »" }));
      box.appendChild(field("prop-nom", "Nom", textInput(bo.name, function (value) {
        modeling.updateLabel(element, value);
      })));
      box.appendChild(field("prop-documentation", "Documentation (tâche de l'annexe citée)", textInput(documentation(bo), function (value) {
        modeling.updateProperties(element, { documentation: value ? [moddle.create("bpmn:Documentation", { text: value })] : [] });
      }, true)));
    }

    function userTask(element, box) {
      var bo = element.businessObject;
      var options = config.forms.map(function (name) { return [name, name.replace(/\.schema\.json$/, "")]; });
      box.appendChild(field("prop-formulaire", "Formulaire", selectInput(options, spiffProperty(bo, "formJsonSchemaFilename"), function (value) {
        setSpiffProperty(element, "formJsonSchemaFilename", value);
        setSpiffProperty(element, "formUiSchemaFilename", value.replace(/\.schema\.json$/, ".uischema.json"));
      }, "— choisir —"), "Le schéma JSON et son schéma d'interface (éditables ci-dessous)."));
    }

    function serviceTask(element, box) {
      var bo = element.businessObject;
      var operator = findExt(bo, "serviceTaskOperator");
      var known = {};
      config.operators.forEach(function (o) { known[o.name] = o; });
      var options = config.operators.map(function (o) { return [o.name, o.name + (o.doc ? " — " + o.doc : "")]; });
      box.appendChild(field("prop-operateur", "Opérateur de service", selectInput(options, operator ? operator.id : "", function (value) {
        var params = moddle.create(SPIFF + "parameters", { parameters: (known[value].required || []).map(function (name) {
          return moddle.create(SPIFF + "parameter", { id: name, type: "any", value: "" });
        }) });
        if (operator) {
          modeling.updateModdleProperties(element, operator, { id: value, parameterList: params });
        } else {
          addExt(element, moddle.create(SPIFF + "serviceTaskOperator", { id: value, resultVariable: value, parameterList: params }));
        }
        show(element);
      }, "— choisir —")));
      if (!operator) { return; }
      box.appendChild(field("prop-resultat", "Variable du résultat", textInput(operator.resultVariable, function (value) {
        modeling.updateModdleProperties(element, operator, { resultVariable: value });
      })));
      var list = operator.parameterList ? operator.parameterList.get("parameters") : [];
      list.forEach(function (param, index) {
        box.appendChild(field("prop-param-" + index, "Paramètre « " + param.id + " » (expression)", textInput(param.value, function (value) {
          modeling.updateModdleProperties(element, param, { value: value });
        }), "Un texte littéral s'écrit entre guillemets : \"P7D\"."));
      });
    }

    function timer(element, box) {
      var definition = timerOf(element.businessObject);
      var kinds = [["timeDuration", "Durée (ISO 8601, par exemple \"P7D\")"], ["timeDate", "Date (ISO 8601)"],
                   ["timeCycle", "Cycle (ISO 8601, par exemple \"R/P1D\")"]];
      var kind = kinds.map(function (k) { return k[0]; }).filter(function (k) { return definition[k]; })[0] || "timeDuration";
      var expression = definition[kind] ? definition[kind].body : "";
      var kindInput = selectInput(kinds, kind, function () { write(); });
      var valueInput = textInput(expression, function () { write(); });
      function write() {
        var values = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
        values[kindInput.value] = moddle.create("bpmn:FormalExpression", { body: valueInput.value });
        modeling.updateModdleProperties(element, definition, values);
      }
      box.appendChild(field("prop-minuterie-type", "Type de minuterie", kindInput));
      box.appendChild(field("prop-minuterie", "Expression de la minuterie", valueInput,
        "Une expression : un texte ISO 8601 entre guillemets, par exemple \"P3D\" pour trois jours."));
    }

    function flow(element, box) {
      var bo = element.businessObject;
      var source = bo.sourceRef;
      if (!source || ["bpmn:ExclusiveGateway", "bpmn:InclusiveGateway"].indexOf(source.$type) < 0) { return; }
      var isDefault = source.default === bo;
      box.appendChild(field("prop-condition", "Condition", textInput(bo.conditionExpression ? bo.conditionExpression.body : "", function (value) {
        modeling.updateProperties(element, { conditionExpression: value ? moddle.create("bpmn:FormalExpression", { body: value }) : undefined });
      }), isDefault ? "Flux par défaut de la passerelle : sa condition est ignorée." : "Expression booléenne sur les données du dossier."));
    }

    function lane(element, box) {
      var options = config.roles.map(function (r) { return [r.code, r.label]; });
      box.appendChild(field("prop-role", "Rôle du couloir", selectInput(options, spiffProperty(element.businessObject, "role"), function (value) {
        setSpiffProperty(element, "role", value);
      }, "— choisir —"), "Qui reçoit les tâches de ce couloir ; changer le libellé du couloir ne change pas son rôle."));
    }

    function show(element) {
      panel.innerHTML = "";
      var box = h("div", { "class": "proprietes" });
      panel.appendChild(h("h2", { text: "Propriétés" }));
      panel.appendChild(box);
      if (!element || element.type === "label") {
        box.appendChild(h("p", { text: "Sélectionnez un élément du diagramme." }));
        return;
      }
      var bo = element.businessObject;
      if (bo.$type === "bpmn:Process" || bo.$type === "bpmn:Collaboration") {
        box.appendChild(h("p", { text: "Processus « " + bo.id + " »." }));
        return;
      }
      common(element, box);
      if (bo.$type === "bpmn:UserTask") { userTask(element, box); }
      if (bo.$type === "bpmn:ServiceTask") { serviceTask(element, box); }
      if (timerOf(bo)) { timer(element, box); }
      if (bo.$type === "bpmn:SequenceFlow") { flow(element, box); }
      if (bo.$type === "bpmn:Lane") { lane(element, box); }
    }

    modeler.get("eventBus").on("selection.changed", function (event) { show(event.newSelection[0]); });
    show(null);
  }

  window.SignalementPanel = { attach: attach };
}());
