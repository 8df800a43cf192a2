"""A tenant's department tree, resolved when read (protocol §4.5.4): parents are codes, so a
child may name a parent that has not arrived (an orphan), and a move can even close a cycle
for a while. Every live department appears exactly once, in depth-first order."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .models import Department, Tenant


@dataclass(frozen=True)
class Node:
    department: Department
    depth: int
    note: str = ""  # "parent … not (yet) known", "in a cycle"


def department_tree(tenant: Tenant) -> list[Node]:
    departments = list(
        Department.objects.filter(tenant=tenant, removed=False).only("org_code", "name", "parent_code", "updated_at")
    )
    by_code = {d.org_code: d for d in departments}
    children: dict[str, list[Department]] = defaultdict(list)
    roots, orphans = [], []
    for d in departments:
        if not d.parent_code or d.parent_code == d.org_code:
            roots.append(d)
        elif d.parent_code not in by_code:
            orphans.append(d)
        else:
            children[d.parent_code].append(d)
    for siblings in children.values():
        siblings.sort(key=lambda d: (d.name, d.org_code))
    nodes: list[Node] = []
    seen: set[str] = set()

    def walk(start: Department, note: str) -> None:
        stack = [(start, 0, note)]
        while stack:
            d, depth, label = stack.pop()
            if d.org_code in seen:
                continue
            seen.add(d.org_code)
            nodes.append(Node(d, depth, label))
            stack.extend((c, depth + 1, "") for c in reversed(children.get(d.org_code, [])))

    key = lambda d: (d.name, d.org_code)  # noqa: E731
    for d in sorted(roots, key=key):
        walk(d, "")
    for d in sorted(orphans, key=key):
        walk(d, f"parent {d.parent_code} not (yet) known")
    for d in sorted(departments, key=key):
        if d.org_code not in seen:
            walk(d, "in a parent cycle")
    return nodes
