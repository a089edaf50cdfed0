/* bpmn-js 18 imports bpmn-moddle's default export (version 9); the project pins bpmn-moddle 10 (bpmnlint 11, the
   round-trip test), which exports it by name. scripts/build-assets aliases `bpmn-moddle` to this file, so the
   browser reads and writes BPMN with the very moddle the round-trip test checks. */
import { BpmnModdle } from '../../../../node_modules/bpmn-moddle/dist/index.js';

export { BpmnModdle };
export default BpmnModdle;
