// Reads a BPMN file through bpmn-moddle with the modeller's spiffworkflow extension and writes it back, as the
// in-browser modeller does on save. Optional edits, as the properties panel makes them:
//   node modeller_roundtrip.mjs IN OUT [taskId=new name] [timer:eventId=expression]
import { readFileSync, writeFileSync } from 'fs';
import { BpmnModdle } from 'bpmn-moddle';

const [input, output, ...edits] = process.argv.slice(2);
const descriptor = JSON.parse(readFileSync(new URL('../web/static/js/spiffworkflow-moddle.json', import.meta.url), 'utf8'));
const moddle = new BpmnModdle({ spiffworkflow: descriptor });
const { rootElement, warnings } = await moddle.fromXML(readFileSync(input, 'utf8'));
const byId = {};
const walk = (element) => {
  if (!element || typeof element !== 'object' || byId[element.id] === element) { return; }
  if (element.id) { byId[element.id] = element; }
  for (const key of ['rootElements', 'flowElements', 'eventDefinitions', 'laneSets', 'lanes']) {
    (element[key] || []).forEach(walk);
  }
};
walk(rootElement);
for (const edit of edits) {
  const [target, value] = edit.split(/=(.*)/s);
  if (target.startsWith('timer:')) {
    const definition = byId[target.slice(6)].eventDefinitions[0];
    definition.timeDuration = moddle.create('bpmn:FormalExpression', { body: value });
  } else {
    byId[target].name = value;
  }
}
const { xml } = await moddle.toXML(rootElement, { format: true });
writeFileSync(output, xml);
console.log(JSON.stringify({ warnings: warnings.map((w) => w.message) }));
