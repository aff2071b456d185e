"""Resolve import aliases to qualified names, once per file, without libcst metadata.

``QualifiedNameProvider`` costs minutes on a large tree; reading the import statements
ourselves costs one walk over the module's top-level statements. The map answers
"what does ``F.softmax`` refer to?" with ``torch.nn.functional.softmax``.
"""

from __future__ import annotations

import libcst as cst

# Spellings that name the same torch object; rules match the canonical one.
CANONICAL_PREFIXES: dict[str, str] = {
    "torch.nn.modules.activation.": "torch.nn.",
    "torch.nn.modules.loss.": "torch.nn.",
    "torch.nn.modules.linear.": "torch.nn.",
    "torch.nn.modules.conv.": "torch.nn.",
    "torch.nn.modules.batchnorm.": "torch.nn.",
    "torch.nn.modules.normalization.": "torch.nn.",
    "torch.nn.modules.dropout.": "torch.nn.",
    "torch.nn.modules.container.": "torch.nn.",
    "torch.nn.modules.module.": "torch.nn.",
    "torch.nn.modules.": "torch.nn.",
}


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None (calls, subscripts, ...).

    Hot: exact type checks (libcst's node classes are final), as ``isinstance``
    against their ABC-derived classes is several times slower."""
    parts: list[str] = []
    while type(node) is cst.Attribute:
        parts.append(node.attr.value)
        node = node.value
    if type(node) is not cst.Name:
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def canonical(name: str) -> str:
    for prefix, replacement in CANONICAL_PREFIXES.items():
        if name.startswith(prefix):
            return replacement + name[len(prefix) :]
    return name


class ImportMap:
    """Local name -> qualified name, from ``import``/``from ... import`` statements.

    Names bound by ``def``/``class``/assignment at module level after an import shadow
    it, so a user's own ``def softmax`` is never taken for torch's.
    """

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}

    @classmethod
    def from_module(cls, module: cst.Module) -> ImportMap:
        imports = cls()
        for statement in module.body:
            imports.add_statement(statement)
        return imports

    def add_statement(self, statement: cst.CSTNode) -> None:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Import | cst.ImportFrom):
                    self.add_import(small)
                elif isinstance(small, cst.Assign):
                    for target in small.targets:
                        self._shadow(target.target)
        elif isinstance(statement, cst.FunctionDef | cst.ClassDef):
            self.aliases.pop(statement.name.value, None)
        elif isinstance(statement, cst.If | cst.Try):
            # ``if TYPE_CHECKING:`` and ``try: import x except ImportError:`` blocks.
            for inner in _nested_statements(statement):
                self.add_statement(inner)

    def add_import(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted_name(alias.name) or ""
                if alias.asname is not None:
                    local = dotted_name(alias.asname.name)
                    if local:
                        self.aliases[local] = full
                else:
                    # ``import torch.nn`` binds ``torch``; attribute access resolves it.
                    head = full.split(".")[0]
                    self.aliases[head] = head
            return
        if node.relative or node.module is None:
            return
        module = dotted_name(node.module) or ""
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = dotted_name(alias.name) or ""
            local = name
            if alias.asname is not None:
                local = dotted_name(alias.asname.name) or name
            self.aliases[local] = f"{module}.{name}"

    def _shadow(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.aliases.pop(target.value, None)

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """Qualified, canonical name of an expression, or None if it is not imported."""
        name = dotted_name(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        target = self.aliases.get(head)
        if target is None:
            return None
        return canonical(f"{target}.{rest}" if rest else target)


def _nested_statements(node: cst.If | cst.Try) -> list[cst.CSTNode]:
    blocks: list[cst.BaseSuite] = [node.body]
    if isinstance(node, cst.If) and node.orelse is not None:
        orelse = node.orelse
        blocks.append(orelse.body if isinstance(orelse, cst.Else) else orelse)  # type: ignore[arg-type]
    if isinstance(node, cst.Try):
        blocks.extend(handler.body for handler in node.handlers)
    statements: list[cst.CSTNode] = []
    for block in blocks:
        if isinstance(block, cst.If):
            statements.append(block)
        elif isinstance(block, cst.IndentedBlock):
            statements.extend(block.body)
    return statements
