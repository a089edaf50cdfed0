/* The form editor under the canvas: one JSON Schema and its UI schema, a live preview rendered by the server
   with the task pages' code, and « Nouveau formulaire », which has the server check a new schema before it joins
   the draft (and the properties panel's form choices). */
import { post } from './server';

export function createFormEditor(config, state, onEdited, say) {
  const select = document.getElementById('choix-formulaire');
  const schemaBox = document.getElementById('schema-json');
  const uiBox = document.getElementById('uischema-json');
  const preview = document.getElementById('apercu-formulaire');
  let previewTimer = null;

  const text = (name) => JSON.stringify(state.forms[name] || {}, null, 2);

  function addOption(name) {
    const option = document.createElement('option');
    option.value = name;
    option.textContent = name.replace(/\.schema\.json$/, '');
    select.appendChild(option);
  }

  function open(name) {
    select.value = name;
    schemaBox.value = text(name);
    uiBox.value = text(name.replace(/\.schema\.json$/, '.uischema.json'));
    schemaBox.dataset.name = name;
    uiBox.dataset.name = name.replace(/\.schema\.json$/, '.uischema.json');
    refresh();
  }

  function read(box, errorBox) {
    try {
      const value = JSON.parse(box.value || '{}');
      errorBox.textContent = '';
      box.removeAttribute('aria-invalid');
      return value;
    } catch (e) {
      errorBox.textContent = 'JSON invalide : ' + e.message;
      box.setAttribute('aria-invalid', 'true');
      return null;
    }
  }

  function edited() {
    const schema = read(schemaBox, document.getElementById('erreur-schema'));
    const ui = read(uiBox, document.getElementById('erreur-uischema'));
    if (schema === null || ui === null) { return; }
    [[schemaBox.dataset.name, schema], [uiBox.dataset.name, ui]].forEach(([name, value]) => {
      if (JSON.stringify(value) !== JSON.stringify(state.baseForms[name] || {})) {
        state.editedForms[name] = value;
      } else {
        delete state.editedForms[name];
      }
      state.forms[name] = value;
    });
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refresh, 400);
    onEdited();
  }

  function refresh() {
    post(config.urls.preview, { schema: state.forms[schemaBox.dataset.name] || {},
      uischema: state.forms[uiBox.dataset.name] || {} }).then((r) => {
      if (r.ok) { preview.innerHTML = r.data; } else { preview.textContent = r.data.detail || 'Aperçu impossible.'; }
      preview.setAttribute('data-ready', r.ok ? '1' : 'error');
    });
  }

  function create(event) {
    event.preventDefault();
    const message = document.getElementById('message-nouveau-formulaire');
    const name = document.getElementById('nouveau-formulaire-nom').value.trim();
    const title = document.getElementById('nouveau-formulaire-titre').value.trim();
    post(config.urls.new_form, { nom: name, titre: title }).then((r) => {
      if (!r.ok) {
        message.textContent = (r.data && r.data.detail) || 'Le formulaire n\'a pas pu être créé.';
        message.className = 'message-erreur';
        return null;
      }
      const { schema_name: schemaName, uischema_name: uiName } = r.data;
      state.forms[schemaName] = r.data.schema;
      state.forms[uiName] = r.data.uischema;
      state.editedForms[schemaName] = r.data.schema;
      state.editedForms[uiName] = r.data.uischema;
      config.forms.push(schemaName);
      config.forms.sort();
      addOption(schemaName);
      open(schemaName);
      message.textContent = 'Formulaire « ' + name + ' » créé : choisissez-le dans les propriétés d\'une tâche utilisateur.';
      message.className = 'message-succes';
      say('Formulaire « ' + name + ' » créé.');
      return onEdited(true);
    });
  }

  config.forms.forEach(addOption);
  select.addEventListener('change', () => open(select.value));
  schemaBox.addEventListener('input', edited);
  uiBox.addEventListener('input', edited);
  document.getElementById('form-nouveau-formulaire').addEventListener('submit', create);
  if (config.forms.length) { open(config.forms[0]); }
  return { open };
}
