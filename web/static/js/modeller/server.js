/* Calls to /admin/processus/modeleur/… with the CSRF token; answers as {ok, status, data}. */
const csrf = () => document.querySelector('meta[name=csrf-token]').content;

export function post(url, body) {
  return fetch(url, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf(), Accept: 'application/json' },
    body: JSON.stringify(body),
  }).then(read);
}

export function get(url) {
  return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(read);
}

function read(response) {
  const type = response.headers.get('Content-Type') || '';
  const body = type.indexOf('json') >= 0 ? response.json() : response.text();
  return body.then((data) => ({ ok: response.ok, status: response.status, data }));
}

/** Sends the draft and its edited forms to the web upload's dry run, then shows the page it answers. */
export function sendToDryRun(config, xml, editedForms) {
  const data = new FormData();
  data.append('csrf_token', csrf());
  data.append(config.upload.bpmn_field, new Blob([xml], { type: 'application/xml' }), config.upload.bpmn_name);
  Object.keys(editedForms).forEach((name) => {
    data.append(config.upload.form_field, new Blob([JSON.stringify(editedForms[name], null, 2)],
      { type: 'application/json' }), name);
  });
  return fetch(config.urls.upload, { method: 'POST', credentials: 'same-origin', body: data }).then((response) => {
    if (response.redirected) { window.location.href = response.url; return null; }
    return response.text().then((html) => { document.open(); document.write(html); document.close(); });
  });
}

/** A date of the server in Paris time, in words. */
export function when(iso) {
  if (!iso) { return '—'; }
  return new Date(iso).toLocaleString('fr-FR', { timeZone: 'Europe/Paris', dateStyle: 'long', timeStyle: 'short' });
}
