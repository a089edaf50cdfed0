/* A draft knows the version it started from. When another version was activated since, the warning shows the
   three versions (base, active, draft) and what changed in each, and the dry run waits for the owner to say they
   have seen it: deploying the draft as it is would undo the active version's changes. */
import { get, when } from './server';

function names(diff) {
  if (!diff) { return ['(illisible)']; }
  const out = [];
  [['ajoutes', 'ajouté'], ['supprimes', 'supprimé'], ['modifies', 'modifié']].forEach(([key, word]) => {
    (diff[key] || []).forEach((e) => out.push((e.nom ? '« ' + e.nom + ' » (' + e.id + ')' : e.id) + ' : ' + word));
  });
  const forms = diff.formulaires || {};
  [['ajoutes', 'ajouté'], ['supprimes', 'supprimé'], ['modifies', 'modifié']].forEach(([key, word]) => {
    (forms[key] || []).forEach((name) => out.push('formulaire ' + name.replace(/\.(ui)?schema\.json$/, '') + ' : ' + word));
  });
  return out.length ? out : ['aucun changement'];
}

function list(title, items) {
  const box = document.createElement('div');
  const heading = document.createElement('h3');
  heading.textContent = title;
  const ul = document.createElement('ul');
  items.slice(0, 40).forEach((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    ul.appendChild(li);
  });
  if (items.length > 40) {
    const li = document.createElement('li');
    li.textContent = '… et ' + (items.length - 40) + ' autres';
    ul.appendChild(li);
  }
  box.appendChild(heading);
  box.appendChild(ul);
  return box;
}

export function checkStale(config, root) {
  const box = document.getElementById('alerte-perime');
  const button = document.getElementById('bouton-essai');
  return get(config.urls.three_versions).then((r) => {
    if (!r.ok || !r.data.stale) { root.setAttribute('data-stale', '0'); return r.data; }
    const { base, active, draft, differences } = r.data;
    document.getElementById('texte-perime').textContent = 'Ce brouillon part de la version ' + base.id
      + ' ; la version ' + active.id + ' est active depuis le ' + when(active.active_since)
      + '. L\'envoyer tel quel à l\'essai à blanc puis le déployer annulerait les changements de la version '
      + active.id + ' qu\'il ne contient pas.';
    const rows = [
      ['Version de départ du brouillon', 'version ' + base.id, 'déployée le ' + when(base.deployed_at) + (base.deployed_by ? ' par ' + base.deployed_by : '')],
      ['Version active', 'version ' + active.id, 'active depuis le ' + when(active.active_since) + (active.deployed_by ? ', déployée par ' + active.deployed_by : '')],
      ['Votre brouillon', 'à partir de la version ' + base.id, 'enregistré le ' + when(draft.updated_at)],
    ];
    const body = document.querySelector('#trois-versions tbody');
    body.innerHTML = '';
    rows.forEach((cells) => {
      const tr = document.createElement('tr');
      cells.forEach((cell, i) => {
        const td = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) { td.setAttribute('scope', 'row'); }
        td.textContent = cell;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    const details = document.getElementById('differences-perime');
    details.innerHTML = '';
    details.appendChild(list('Changements de la version ' + active.id + ' depuis la version ' + base.id, names(differences.base_active)));
    details.appendChild(list('Changements de votre brouillon depuis la version ' + base.id, names(differences.base_draft)));
    details.appendChild(list('Éléments changés des deux côtés', (differences.conflits || []).length ? differences.conflits : ['aucun']));
    box.hidden = false;
    button.disabled = true;
    document.getElementById('vu-perime').addEventListener('change', (e) => { button.disabled = !e.target.checked; });
    root.setAttribute('data-stale', '1');
    return r.data;
  });
}
