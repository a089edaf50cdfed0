"""The process as a graph: its id, executability, reachability, gateway defaults, diagram interchange."""
from __future__ import annotations

from validation import loops
from validation.problems import BPMN, BPMNDI, Problem, label, problem

FLOW_NODES = {BPMN + tag for tag in (
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "task",
    "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask", "businessRuleTask",
    "subProcess", "callActivity", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "complexGateway")}
CHOICE_GATEWAYS = {BPMN + "exclusiveGateway", BPMN + "inclusiveGateway"}


def executable_process(root, expected_id: str | None) -> tuple[object | None, list[Problem]]:
    """The one executable process of the file, and the problems with its presence and its id."""
    processes = [p for p in root.iter(BPMN + "process") if p.get("isExecutable") == "true"]
    if not processes:
        return None, [problem("processus-executable", None, "aucun processus exécutable n'a été trouvé",
                              "Dans le modeleur, sélectionnez le participant (le cadre du processus) et "
                              "cochez « Exécutable » dans le panneau des propriétés (isExecutable=\"true\").")]
    found = []
    if len(processes) > 1:
        found.append(problem("processus-executable", processes[1], "le fichier contient plusieurs processus "
                             "exécutables", "Gardez un seul processus exécutable par fichier."))
    process = processes[0]
    if expected_id and process.get("id") != expected_id:
        found.append(problem("identifiant-processus", process,
                             f"l'identifiant du processus est « {process.get('id')} », alors que le déploiement "
                             f"remplace « {expected_id} »",
                             f"Une définition est liée à son identifiant : gardez id=\"{expected_id}\" pour en "
                             "faire une nouvelle version."))
    return process, found


def nodes_and_flows(process) -> tuple[dict, list]:
    """{id: element} of the process's flow nodes, and its sequence flows."""
    nodes = {el.get("id"): el for el in process if el.tag in FLOW_NODES}
    return nodes, list(process.iterfind(BPMN + "sequenceFlow"))


def _walk(starts, edges: dict) -> set:
    seen, stack = set(starts), list(starts)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def reachability(process) -> list[Problem]:
    """Elements the start cannot reach, and elements from which no end event can be reached."""
    nodes, flows = nodes_and_flows(process)
    forward, backward = {}, {}
    edges = [(f.get("sourceRef"), f.get("targetRef")) for f in flows]
    edges += [(el.get("attachedToRef"), el.get("id")) for el in nodes.values() if el.get("attachedToRef")]
    for source, target in edges:
        forward.setdefault(source, []).append(target)
        backward.setdefault(target, []).append(source)
    starts = [i for i, el in nodes.items() if el.tag == BPMN + "startEvent"]
    ends = [i for i, el in nodes.items() if el.tag == BPMN + "endEvent"]
    reached, ending = _walk(starts, forward), _walk(ends, backward)
    found = []
    for node_id, element in nodes.items():
        if node_id not in reached:
            found.append(problem("atteignable", element, "l'élément ne peut pas être atteint depuis l'événement "
                                 "de début", "Reliez-le par un flux de séquence à ce qui le précède, ou supprimez-le."))
        elif node_id not in ending:
            found.append(problem("fin-atteignable", element, "aucun chemin ne mène de cet élément à un événement de "
                                 "fin", "Ajoutez un flux de séquence vers la suite du processus ou vers un événement "
                                 "de fin."))
    return found


def gateway_defaults(process, forms: dict | None = None) -> list[Problem]:
    """Exclusive and inclusive gateways that choose between flows must name a default flow, unless their
    conditions test one form field against every value of its enumeration (they cannot all be false)."""
    _, flows = nodes_and_flows(process)
    outgoing: dict = {}
    for flow in flows:
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
    found = []
    for gateway in process:
        leaving = outgoing.get(gateway.get("id"), [])
        if gateway.tag not in CHOICE_GATEWAYS or len(leaving) < 2:
            continue
        default = gateway.get("default")
        if default is None and not loops.exhaustive(process, forms or {}, leaving):
            found.append(problem("flux-par-defaut", gateway, "la passerelle n'a pas de flux par défaut : si aucune "
                                 "condition n'est vraie, le dossier s'arrête (« No conditions satisfied »)",
                                 "Marquez l'un de ses flux sortants comme flux par défaut (« Default flow »), ou "
                                 "faites tester à ses conditions toutes les valeurs d'un champ de formulaire à liste "
                                 "de choix."))
        elif default is not None and default not in {f.get("id") for f in leaving}:
            found.append(problem("flux-par-defaut", gateway, f"le flux par défaut « {default} » ne sort pas de cette "
                                 "passerelle", "Choisissez comme flux par défaut l'un de ses flux sortants."))
        for flow in leaving:
            if flow.get("id") != default and flow.find(BPMN + "conditionExpression") is None:
                found.append(problem("condition-manquante", flow, f"ce flux sortant de {label(gateway)} n'a pas de "
                                     "condition et n'est pas le flux par défaut",
                                     "Écrivez sa condition, ou faites-en le flux par défaut."))
    return found


def diagram_interchange(root, process) -> list[Problem]:
    """Every flow node and lane needs a shape, every sequence flow an edge, or modellers cannot show it."""
    shapes = {el.get("bpmnElement") for el in root.iter(BPMNDI + "BPMNShape")}
    edges = {el.get("bpmnElement") for el in root.iter(BPMNDI + "BPMNEdge")}
    nodes, flows = nodes_and_flows(process)
    drawn = [(el, shapes) for el in [*nodes.values(), *process.iter(BPMN + "lane")]] + [(f, edges) for f in flows]
    return [problem("diagramme", el, "l'élément n'est pas dessiné (pas de forme ni d'arc dans le diagramme)",
                    "Ouvrez le fichier dans un modeleur (bpmn.io, Camunda Modeler) et placez l'élément sur le "
                    "diagramme avant de l'enregistrer.")
            for el, drawn_ids in drawn if el.get("id") not in drawn_ids]
