/* The problem list beside the canvas: bpmnlint's live findings (as one edits) and the deployment validator's
   (« Vérifier »), each naming its element in French, with a button that shows the element. */
import { lintMessage } from './translate-fr';
import { showElement } from './phases';

function named(registry, id, name) {
  const el = id && registry.get(id);
  const label = name || (el && el.businessObject && el.businessObject.name);
  if (!id) { return 'Processus'; }
  return label ? '« ' + label.replace(/\s+/g, ' ') + ' » (' + id + ')' : '« ' + id + ' »';
}

export function createProblemList(modeler, list, summary) {
  const registry = modeler.get('elementRegistry');
  const canvas = modeler.get('canvas');
  let lint = [];
  let checked = null;
  let markers = [];

  function item(problem) {
    const li = document.createElement('li');
    li.className = 'probleme-' + problem.kind;
    li.dataset.element = problem.id || '';
    const text = document.createElement('span');
    text.textContent = named(registry, problem.id, problem.name) + ' : ' + problem.text + (problem.hint ? '. ' + problem.hint : '');
    li.appendChild(text);
    if (problem.id && registry.get(problem.id)) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'lien';
      button.textContent = 'Voir';
      button.setAttribute('aria-label', 'Voir l\'élément ' + problem.id);
      button.addEventListener('click', () => {
        const el = registry.get(problem.id);
        showElement(modeler, el);
        modeler.get('selection').select(el);
      });
      li.appendChild(document.createTextNode(' '));
      li.appendChild(button);
    }
    return li;
  }

  function render() {
    markers.forEach((id) => { if (registry.get(id)) { canvas.removeMarker(id, 'probleme'); } });
    markers = [];
    list.innerHTML = '';
    const all = (checked ? checked.problems : []).concat(lint);
    all.forEach((problem) => {
      list.appendChild(item(problem));
      if (problem.kind === 'validateur' && problem.id && registry.get(problem.id)) {
        canvas.addMarker(problem.id, 'probleme');
        markers.push(problem.id);
      }
    });
    const errors = lint.filter((p) => p.kind === 'erreur').length;
    const warnings = lint.length - errors;
    let text = 'Contrôle en direct (bpmnlint) : ' + (lint.length ? errors + ' erreur(s), ' + warnings + ' avertissement(s).' : 'aucun problème.');
    if (checked) {
      text += checked.ok ? ' Validateur du déploiement : aucun problème, le fichier peut passer à l\'essai à blanc.'
        : ' Validateur du déploiement : ' + checked.problems.length + (checked.problems.length > 1 ? ' problèmes' : ' problème') + ' à corriger.';
      if (!checked.linted) { text += ' (bpmnlint n\'est pas disponible sur ce serveur.)'; }
    } else {
      text += ' Cliquez sur « Vérifier » pour le contrôle complet du déploiement.';
    }
    summary.textContent = text;
  }

  modeler.get('eventBus').on('linting.completed', ({ issues }) => {
    lint = [];
    Object.keys(issues).forEach((id) => issues[id].forEach((issue) => {
      lint.push({ kind: issue.category === 'error' ? 'erreur' : 'avertissement', id: issue.id || id,
        text: (lintMessage(issue.message) || issue.message) + ' (règle bpmnlint « ' + issue.rule + ' »)', hint: '' });
    }));
    render();
  });
  modeler.get('eventBus').on('commandStack.changed', () => { if (checked) { checked.stale = true; } });

  return {
    /** The validator's answer: {ok, linted, problems: [{element_id, element_name, text, hint}]}. */
    showCheck(result) {
      checked = { ok: result.ok, linted: result.linted, problems: result.problems.map((p) => ({
        kind: 'validateur', id: p.element_id, name: p.element_name, text: p.text, hint: p.hint })) };
      render();
    },
    render,
  };
}
