/* The process owners' modeller, bundled by esbuild (scripts/setup) into web/static/vendor/modeller/: bpmn-js
   Modeler with the spiffworkflow extension, bpmn-js-properties-panel with our properties provider,
   bpmn-js-bpmnlint for live problems, diagram-js-minimap, the « Phase » menu, French everywhere; drafts saved as
   one works, the validator's problems beside the canvas, the form editor, local files and the stale-draft warning. */
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import '@bpmn-io/properties-panel/dist/assets/properties-panel.css';
import 'bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css';
import 'diagram-js-minimap/assets/diagram-js-minimap.css';

import BpmnModeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';
import LintModule from 'bpmn-js-bpmnlint';
import MinimapModule from 'diagram-js-minimap';

import moddleDescriptor from '../spiffworkflow-moddle.json';
import TranslateModule from './translate-fr';
import SignalementPropertiesModule, { OPEN_GROUPS } from './properties-provider';
import lintConfig from './lint';
import { phases, phaseAtCentre, showPhase, MIN_SCALE } from './phases';
import { createProblemList } from './problems';
import { createFormEditor } from './forms-editor';
import { checkStale } from './stale';
import { post, sendToDryRun } from './server';

const MAX_FILE_BYTES = 2 * 1024 * 1024;

function start(root) {
  const config = JSON.parse(document.getElementById('config-modeleur').textContent);
  const state = { forms: {}, editedForms: {}, baseForms: {}, saveTimer: null };
  const status = document.getElementById('etat-modeleur');
  const say = (text) => { status.textContent = text; };

  const modeler = new BpmnModeler({
    container: document.getElementById('toile-modeleur'),
    propertiesPanel: {
      parent: '#proprietes',
      layout: { groups: Object.fromEntries(OPEN_GROUPS.map((id) => [id, { open: true }])) },
    },
    linting: { bpmnlint: lintConfig, active: true },
    minimap: { open: true },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, SignalementPropertiesModule,
      LintModule, MinimapModule, TranslateModule, { signalementConfig: ['value', config] }],
    moddleExtensions: { spiffworkflow: moddleDescriptor },
  });
  const canvas = modeler.get('canvas');
  const problems = createProblemList(modeler, document.getElementById('problemes'),
    document.getElementById('bilan-verification'));

  const currentXml = () => modeler.saveXML({ format: true }).then((r) => r.xml);

  function saveDraft() {
    clearTimeout(state.saveTimer);
    return currentXml().then((xml) => post(config.urls.save, { xml, forms: state.editedForms })).then((r) => {
      if (r.ok) {
        say('Brouillon enregistré à ' + new Date(r.data.saved_at).toLocaleTimeString('fr-FR') + '.');
        root.setAttribute('data-draft', 'saved');
      } else {
        say((r.data && r.data.detail) || 'Le brouillon n\'a pas pu être enregistré.');
        root.setAttribute('data-draft', 'error');
      }
      return r;
    });
  }

  function scheduleSave(now) {
    root.setAttribute('data-draft', 'pending');
    clearTimeout(state.saveTimer);
    if (now === true) { return saveDraft(); }
    state.saveTimer = setTimeout(saveDraft, 1500);
    return null;
  }

  function check() {
    say('Vérification en cours…');
    return currentXml().then((xml) => post(config.urls.check, { xml, forms: state.editedForms })).then((r) => {
      if (!r.ok) { say((r.data && r.data.detail) || 'Vérification impossible.'); return r; }
      problems.showCheck(r.data);
      root.setAttribute('data-checked', r.data.ok ? 'ok' : 'problems');
      say('Vérification terminée.');
      return r;
    });
  }

  function dryRun() {
    say('Envoi à l\'essai à blanc…');
    return saveDraft().then(currentXml).then((xml) => sendToDryRun(config, xml, state.editedForms));
  }

  function discard() {
    if (!window.confirm('Abandonner le brouillon et repartir de la version active ?')) { return; }
    post(config.urls.discard, {}).then(() => window.location.reload());
  }

  function download() {
    return currentXml().then((xml) => {
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([xml], { type: 'application/xml' }));
      link.download = 'processus-brouillon.bpmn';
      document.body.appendChild(link);
      link.click();
      setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
      say('Brouillon téléchargé (processus-brouillon.bpmn).');
    });
  }

  function openFile(event) {
    const file = event.target.files && event.target.files[0];
    event.target.value = '';
    if (!file) { return null; }
    if (file.size > MAX_FILE_BYTES) { say('Fichier refusé : 2 Mio au plus.'); return null; }
    if (!window.confirm('Remplacer le diagramme en cours par « ' + file.name + ' » ? Votre brouillon sera remplacé.')) {
      return null;
    }
    return file.text().then((text) => modeler.importXML(text)).then(({ warnings }) => {
      fillPhaseMenu();
      goToFirstPhase();
      say('Fichier « ' + file.name + ' » ouvert' + (warnings.length ? ' (' + warnings.length + ' avertissement(s) de lecture)' : '')
        + ' ; il remplace le brouillon.');
      return scheduleSave(true);
    }).catch((error) => {
      say('Ce fichier n\'a pas pu être ouvert comme BPMN : ' + String(error.message || error).split('\n')[0].slice(0, 200));
    });
  }

  /* The « Phase » menu: one entry per group of the diagram. */
  const phaseMenu = document.getElementById('menu-phase');
  function fillPhaseMenu() {
    phaseMenu.innerHTML = '';
    const first = document.createElement('option');
    first.value = '';
    first.textContent = '— choisir une phase —';
    phaseMenu.appendChild(first);
    phases(modeler).forEach((phase) => {
      const option = document.createElement('option');
      option.value = phase.id;
      option.textContent = phase.label;
      phaseMenu.appendChild(option);
    });
  }
  function goToFirstPhase() {
    const all = phases(modeler);
    if (all.length) { showPhase(modeler, all[0].id); } else { canvas.zoom('fit-viewport'); }
  }
  /* A phase chosen from the menu is shown on screen: the toolbar and the whole canvas in the window. */
  function bringCanvasIntoView() {
    const box = document.getElementById('toile-modeleur').getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) { root.scrollIntoView({ block: 'start' }); }
  }
  phaseMenu.addEventListener('change', () => {
    if (phaseMenu.value) { showPhase(modeler, phaseMenu.value); bringCanvasIntoView(); }
  });

  function zoom(step) {
    if (step === 0) {
      const phase = phaseAtCentre(modeler);
      if (phase) { showPhase(modeler, phase.id); } else { canvas.zoom('fit-viewport'); }
      bringCanvasIntoView();
      return;
    }
    canvas.zoom(Math.max(0.2, Math.min(4, canvas.zoom() * step)));
  }

  get(config.urls.file).then((file) => {
    state.forms = file.forms;
    state.baseForms = JSON.parse(JSON.stringify(file.forms));
    (file.draft_forms || []).forEach((name) => { state.editedForms[name] = file.forms[name]; });
    return modeler.importXML(file.xml).then(() => {
      fillPhaseMenu();
      goToFirstPhase();
      modeler.get('eventBus').on('commandStack.changed', scheduleSave);
      createFormEditor(config, state, scheduleSave, say);
      say(file.draft_saved_at ? 'Brouillon repris (à partir de la version ' + file.base_version + ').'
        : 'Version active ouverte (version ' + file.base_version + ').');
      root.setAttribute('data-ready', '1');
      return checkStale(config, root);
    });
  }).catch((error) => {
    say('Le modeleur n\'a pas pu s\'ouvrir : ' + error.message);
    root.setAttribute('data-ready', 'error');
  });

  document.getElementById('bouton-verifier').addEventListener('click', check);
  document.getElementById('bouton-brouillon').addEventListener('click', saveDraft);
  document.getElementById('bouton-essai').addEventListener('click', dryRun);
  document.getElementById('bouton-abandonner').addEventListener('click', discard);
  document.getElementById('bouton-repartir').addEventListener('click', discard);
  document.getElementById('bouton-telecharger').addEventListener('click', download);
  document.getElementById('ouvrir-fichier').addEventListener('change', openFile);
  document.getElementById('zoom-plus').addEventListener('click', () => zoom(1.25));
  document.getElementById('zoom-moins').addEventListener('click', () => zoom(0.8));
  document.getElementById('zoom-ajuster').addEventListener('click', () => zoom(0));
  window.SignalementModeler = { modeler: () => modeler, check, save: saveDraft, minScale: MIN_SCALE };
}

function get(url) {
  return fetch(url, { credentials: 'same-origin' }).then((r) => {
    if (!r.ok) { throw new Error('réponse ' + r.status); }
    return r.json();
  });
}

const root = document.getElementById('modeleur');
if (root) { start(root); }
