/* Our extension properties in bpmn-js-properties-panel, as a properties provider beside the standard one
   (name, id, documentation, timers, « Exécutable »): a user task's form and deadline, a service task's operator
   and parameters from the handler registry, a flow's condition and the gateway's default flow, a lane's role.
   Every change goes through bpmn-js commands, so undo/redo and the draft save follow. */
import { useService } from 'bpmn-js-properties-panel';
import {
  CheckboxEntry, Group, SelectEntry, TextFieldEntry, isCheckboxEntryEdited, isSelectEntryEdited,
  isTextFieldEntryEdited,
} from '@bpmn-io/properties-panel';
import { is, getBusinessObject } from 'bpmn-js/lib/util/ModelUtil';

const SPIFF = 'spiffworkflow:';
const CHOICE_GATEWAYS = ['bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway'];
const DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/;

function extensions(bo) { return (bo.extensionElements && bo.extensionElements.get('values')) || []; }
function findExtension(bo, type) { return extensions(bo).find((v) => v.$type === SPIFF + type); }

export function spiffProperty(bo, name) {
  const props = findExtension(bo, 'properties');
  const found = props && props.get('properties').find((p) => p.name === name);
  return found ? found.value : '';
}

/** Writes (or removes, for an empty value) spiffworkflow:property `name` of the element, in one command. */
function setSpiffProperties(injector, element, values) {
  const moddle = injector.get('moddle');
  const commands = [];
  const bo = getBusinessObject(element);
  let extensionElements = bo.extensionElements;
  if (!extensionElements) {
    extensionElements = moddle.create('bpmn:ExtensionElements', { values: [] });
    extensionElements.$parent = bo;
    commands.push({ cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: bo, properties: { extensionElements } } });
  }
  let props = findExtension(bo, 'properties');
  let list = props ? props.get('properties').slice() : [];
  Object.entries(values).forEach(([name, value]) => {
    const existing = list.find((p) => p.name === name);
    if (existing && value) {
      commands.push({ cmd: 'element.updateModdleProperties',
        context: { element, moddleElement: existing, properties: { value } } });
    } else if (existing) {
      list = list.filter((p) => p !== existing);
    } else if (value) {
      const created = moddle.create(SPIFF + 'property', { name, value });
      list.push(created);
    }
  });
  if (!props) {
    props = moddle.create(SPIFF + 'properties', { properties: [] });
    props.$parent = extensionElements;
    commands.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: extensionElements,
      properties: { values: extensionElements.get('values').concat([props]) } } });
  }
  list.forEach((p) => { p.$parent = props; });
  commands.push({ cmd: 'element.updateModdleProperties',
    context: { element, moddleElement: props, properties: { properties: list } } });
  injector.get('commandStack').execute('properties-panel.multi-command-executor', commands);
}

/* ---- User task: form and deadline ---- */

function FormEntry({ element, id }) {
  const injector = useService('injector');
  const config = useService('signalementConfig');
  return SelectEntry({
    element, id, label: 'Formulaire',
    description: 'Le schéma JSON et son schéma d\'interface (éditables sous le diagramme, où « Nouveau formulaire » en crée un).',
    getValue: () => spiffProperty(getBusinessObject(element), 'formJsonSchemaFilename'),
    setValue: (value) => setSpiffProperties(injector, element, {
      formJsonSchemaFilename: value, formUiSchemaFilename: value ? value.replace(/\.schema\.json$/, '.uischema.json') : '',
    }),
    getOptions: () => [{ value: '', label: '— choisir —' }].concat(
      config.forms.map((name) => ({ value: name, label: name.replace(/\.schema\.json$/, '') }))),
  });
}

function TargetDurationEntry({ element, id }) {
  const injector = useService('injector');
  return TextFieldEntry({
    element, id, label: 'Délai cible (durée ISO 8601)', debounce: useService('debounceInput'),
    description: 'Par exemple PT4H (4 heures) ou P2D (2 jours). Vide : pas de délai cible.',
    getValue: () => spiffProperty(getBusinessObject(element), 'targetDuration'),
    setValue: (value) => setSpiffProperties(injector, element, { targetDuration: (value || '').trim() }),
    validate: (value) => (value && !DURATION.test(value.trim())
      ? 'Durée ISO 8601 attendue, par exemple PT4H ou P2D.' : null),
  });
}

function TargetCalendarEntry({ element, id }) {
  const injector = useService('injector');
  return SelectEntry({
    element, id, label: 'Le délai se compte en',
    getValue: () => spiffProperty(getBusinessObject(element), 'targetCalendar'),
    setValue: (value) => setSpiffProperties(injector, element, { targetCalendar: value }),
    getOptions: () => [{ value: '', label: '— choisir —' },
      { value: 'working', label: 'heures ouvrées de la Cellule ACSS' },
      { value: 'calendar', label: 'heures calendaires (jour et nuit)' }],
  });
}

/* ---- Service task: operator and parameters ---- */

function operatorOf(element) { return findExtension(getBusinessObject(element), 'serviceTaskOperator'); }

function OperatorEntry({ element, id }) {
  const config = useService('signalementConfig');
  const moddle = useService('moddle');
  const modeling = useService('modeling');
  const known = Object.fromEntries(config.operators.map((o) => [o.name, o]));
  return SelectEntry({
    element, id, label: 'Opérateur de service',
    getValue: () => (operatorOf(element) ? operatorOf(element).id : ''),
    setValue: (value) => {
      if (!value) { return; }
      const parameters = moddle.create(SPIFF + 'parameters', {
        parameters: (known[value].required || []).map((name) => moddle.create(SPIFF + 'parameter',
          { id: name, type: 'any', value: '' })),
      });
      const operator = operatorOf(element);
      if (operator) {
        parameters.$parent = operator;
        modeling.updateModdleProperties(element, operator, { id: value, parameterList: parameters });
      } else {
        const bo = getBusinessObject(element);
        const created = moddle.create(SPIFF + 'serviceTaskOperator', { id: value, resultVariable: value, parameterList: parameters });
        parameters.$parent = created;
        const ext = bo.extensionElements || moddle.create('bpmn:ExtensionElements', { values: [] });
        created.$parent = ext;
        if (!bo.extensionElements) {
          ext.$parent = bo;
          ext.values = [created];
          modeling.updateProperties(element, { extensionElements: ext });
        } else {
          modeling.updateModdleProperties(element, ext, { values: ext.get('values').concat([created]) });
        }
      }
    },
    // The handlers' names only: their docstrings are the code's (English) documentation.
    getOptions: () => [{ value: '', label: '— choisir —' }].concat(config.operators.map((o) => ({
      value: o.name, label: o.name }))),
  });
}

function ResultEntry({ element, id }) {
  const modeling = useService('modeling');
  return TextFieldEntry({
    element, id, label: 'Variable du résultat', debounce: useService('debounceInput'),
    getValue: () => operatorOf(element).resultVariable || '',
    setValue: (value) => modeling.updateModdleProperties(element, operatorOf(element), { resultVariable: value }),
  });
}

function ParameterEntry({ element, id, parameter }) {
  const modeling = useService('modeling');
  return TextFieldEntry({
    element, id, label: 'Paramètre « ' + parameter.id + ' » (expression)', debounce: useService('debounceInput'),
    description: 'Un texte littéral s\'écrit entre guillemets : "P7D".',
    getValue: () => parameter.value || '',
    setValue: (value) => modeling.updateModdleProperties(element, parameter, { value }),
  });
}

/* ---- Flows out of a choice gateway: condition and default flow ---- */

function fromChoice(element) {
  const source = getBusinessObject(element).sourceRef;
  return is(element, 'bpmn:SequenceFlow') && source && CHOICE_GATEWAYS.some((t) => is(source, t));
}

function ConditionEntry({ element, id }) {
  const modeling = useService('modeling');
  const moddle = useService('moddle');
  const bo = getBusinessObject(element);
  const isDefault = bo.sourceRef.default === bo;
  return TextFieldEntry({
    element, id, label: 'Condition', debounce: useService('debounceInput'), disabled: isDefault,
    description: isDefault ? 'Flux par défaut de la passerelle : il est suivi quand aucune autre condition n\'est vraie.'
      : 'Expression booléenne sur les données du dossier, par exemple qualification == "grave".',
    getValue: () => (bo.conditionExpression ? bo.conditionExpression.body : ''),
    setValue: (value) => modeling.updateProperties(element, {
      conditionExpression: value ? moddle.create('bpmn:FormalExpression', { body: value }) : undefined }),
  });
}

function setDefault(injector, gateway, flowBo) {
  const modeling = injector.get('modeling');
  const registry = injector.get('elementRegistry');
  const commands = [{ cmd: 'element.updateProperties', context: { element: gateway, properties: { default: flowBo || undefined } } }];
  if (flowBo && flowBo.conditionExpression) {  // a default flow carries no condition
    commands.push({ cmd: 'element.updateProperties',
      context: { element: registry.get(flowBo.id), properties: { conditionExpression: undefined } } });
  }
  void modeling;
  injector.get('commandStack').execute('properties-panel.multi-command-executor', commands);
}

function IsDefaultEntry({ element, id }) {
  const injector = useService('injector');
  const registry = useService('elementRegistry');
  const bo = getBusinessObject(element);
  return CheckboxEntry({
    element, id, label: 'Flux par défaut de la passerelle',
    description: 'Cocher retire la condition de ce flux.',
    getValue: () => bo.sourceRef.default === bo,
    setValue: (value) => setDefault(injector, registry.get(bo.sourceRef.id), value ? bo : null),
  });
}

function GatewayDefaultEntry({ element, id }) {
  const injector = useService('injector');
  const bo = getBusinessObject(element);
  const label = (flow) => {
    const target = flow.targetRef;
    return (flow.name ? flow.name + ' → ' : '→ ') + ((target && (target.name || target.id)) || '?') + ' (' + flow.id + ')';
  };
  return SelectEntry({
    element, id, label: 'Flux par défaut',
    description: 'Suivi quand aucune condition n\'est vraie ; sans lui, le dossier peut rester bloqué sur cette passerelle.',
    getValue: () => (bo.default ? bo.default.id : ''),
    setValue: (value) => setDefault(injector, element, (bo.outgoing || []).find((f) => f.id === value) || null),
    getOptions: () => [{ value: '', label: '— aucun —' }].concat((bo.outgoing || []).map((flow) => ({
      value: flow.id, label: label(flow) }))),
  });
}

/* ---- Lane: role ---- */

function RoleEntry({ element, id }) {
  const injector = useService('injector');
  const config = useService('signalementConfig');
  return SelectEntry({
    element, id, label: 'Rôle du couloir',
    description: 'Qui reçoit les tâches de ce couloir ; changer le libellé du couloir ne change pas son rôle.',
    getValue: () => spiffProperty(getBusinessObject(element), 'role'),
    setValue: (value) => setSpiffProperties(injector, element, { role: value }),
    getOptions: () => [{ value: '', label: '— choisir —' }].concat(config.roles.map((r) => ({ value: r.code, label: r.label }))),
  });
}

function group(id, label, entries) {
  return entries.length ? { id, label, component: Group, entries } : null;
}

function groupsOf(element) {
  const groups = [];
  if (is(element, 'bpmn:UserTask')) {
    groups.push(group('signalement-formulaire', 'Formulaire et délai', [
      { id: 'formulaire', component: FormEntry, isEdited: isSelectEntryEdited },
      { id: 'delai-cible', component: TargetDurationEntry, isEdited: isTextFieldEntryEdited },
      { id: 'delai-calendrier', component: TargetCalendarEntry, isEdited: isSelectEntryEdited },
    ]));
  }
  if (is(element, 'bpmn:ServiceTask')) {
    const entries = [{ id: 'operateur', component: OperatorEntry, isEdited: isSelectEntryEdited }];
    const operator = operatorOf(element);
    if (operator) {
      entries.push({ id: 'resultat', component: ResultEntry, isEdited: isTextFieldEntryEdited });
      const list = operator.parameterList ? operator.parameterList.get('parameters') : [];
      list.forEach((parameter, index) => entries.push({ id: 'parametre-' + index, component: ParameterEntry,
        parameter, isEdited: isTextFieldEntryEdited }));
    }
    groups.push(group('signalement-operateur', 'Opérateur de service', entries));
  }
  if (fromChoice(element)) {
    groups.push(group('signalement-condition', 'Condition', [
      { id: 'condition', component: ConditionEntry, isEdited: isTextFieldEntryEdited },
      { id: 'flux-par-defaut', component: IsDefaultEntry, isEdited: isCheckboxEntryEdited },
    ]));
  }
  if (CHOICE_GATEWAYS.some((t) => is(element, t))) {
    groups.push(group('signalement-passerelle', 'Passerelle', [
      { id: 'passerelle-defaut', component: GatewayDefaultEntry, isEdited: isSelectEntryEdited },
    ]));
  }
  if (is(element, 'bpmn:Lane')) {
    groups.push(group('signalement-couloir', 'Couloir', [
      { id: 'role', component: RoleEntry, isEdited: isSelectEntryEdited },
    ]));
  }
  return groups.filter(Boolean);
}

function SignalementPropertiesProvider(propertiesPanel) {
  propertiesPanel.registerProvider(500, this);
}
SignalementPropertiesProvider.$inject = ['propertiesPanel'];

SignalementPropertiesProvider.prototype.getGroups = function (element) {
  return (groups) => {
    const ours = groupsOf(element);
    // Right after « Général » (and « Documentation »), before the standard provider's other groups.
    const at = groups.findIndex((g) => g.id === 'documentation');
    groups.splice(at < 0 ? groups.length : at + 1, 0, ...ours);
    return groups;
  };
};

export const OPEN_GROUPS = ['general', 'documentation', 'timer', 'signalement-formulaire', 'signalement-operateur',
  'signalement-condition', 'signalement-passerelle', 'signalement-couloir'];

export default {
  __init__: ['signalementPropertiesProvider'],
  signalementPropertiesProvider: ['type', SignalementPropertiesProvider],
};
