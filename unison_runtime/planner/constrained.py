"""Grammar-constrained decoding: only tokens that keep the output well-formed may be generated.

A grammar is a small deterministic automaton over token ids. Each `Node` knows its outgoing
edges (token id -> next node); nodes are built lazily so that number fields with thousands of
valid values cost nothing until they are visited. `GrammarLogitsProcessor` walks the automaton
along the generated tokens and masks every other token to -inf, so greedy decoding from any
weights — even random ones — yields output the grammar accepts.

Two grammars are built here:
- `unison_plan_grammar`: the Unison plan tokens (DESIGN §2–3). Parameter blocks first, the task
  token last, then end-of-turn. The first token may instead start a prose answer (FREE node).
- `tagged_json_grammar`: a fixed JSON skeleton of literals, enumerated strings and digit
  fields whose keys depend on the first value (the instruct planner's task).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..errors import ModelLoadError
from ..plan import PLAN_TOKENS
from ..request import PAD_TOKENS


class Node:
    """A state of the automaton; `edges()` maps each allowed token id to the next node."""

    free = False

    def edges(self) -> dict[int, "Node"]:
        raise NotImplementedError


class Fixed(Node):
    def __init__(self, edges: dict[int, Node] | None = None):
        self._edges = edges or {}

    def edges(self) -> dict[int, Node]:
        return self._edges


class Lazy(Node):
    """Edges computed on first use (number fields, unions)."""

    def __init__(self, build: Callable[[], dict[int, Node]]):
        self._build = build
        self._edges: dict[int, Node] | None = None

    def edges(self) -> dict[int, Node]:
        if self._edges is None:
            self._edges = self._build()
        return self._edges


class Free(Node):
    """Unconstrained text except for `banned` ids; after `limit` tokens only `end_ids` remain."""

    free = True

    def __init__(self, banned: Iterable[int], end_ids: Iterable[int] = (), limit: int | None = None):
        self.banned = frozenset(banned)
        self.end_ids = tuple(end_ids)
        self.limit = limit

    def edges(self) -> dict[int, Node]:
        return {}


UNISON_TOKENS = PLAN_TOKENS + tuple(PAD_TOKENS.values())  # the 14 tokens the LoRA added
ACCEPT = Fixed()  # after the final token nothing more is generated


def union(*nodes: Node) -> Node:
    def build() -> dict[int, Node]:
        merged: dict[int, Node] = {}
        for node in nodes:
            for token, nxt in node.edges().items():
                if token in merged and merged[token] is not nxt:
                    raise ValueError(f"ambiguous grammar at token id {token}")
                merged[token] = nxt
        return merged

    return Lazy(build)


def sequence(token_ids: Sequence[int], then: Node) -> Node:
    """Force these tokens in order, then continue at `then`."""
    node = then
    for token in reversed(token_ids):
        node = Fixed({token: node})
    return node


def choice(options: Sequence[Sequence[int]], then: Node | Sequence[Node]) -> Node:
    """One of several token sequences (a trie), each followed by `then` (or its own `then[i]`);
    no option may be a prefix of another."""
    thens = list(then) if isinstance(then, (list, tuple)) else [then] * len(options)
    root: dict = {}
    for option, after in zip(options, thens):
        level = root
        for token in option[:-1]:
            level = level.setdefault(token, {})
            if isinstance(level, Node):
                raise ValueError("an option of a choice is a prefix of another")
        if option[-1] in level:
            raise ValueError("an option of a choice is a prefix of another")
        level[option[-1]] = after
    return _trie_node(root)


def _trie_node(level: dict) -> Node:
    return Fixed({tok: (sub if isinstance(sub, Node) else _trie_node(sub)) for tok, sub in level.items()})


@dataclass(frozen=True)
class Digits:
    """Token ids of '0'..'9' (Qwen's pre-tokenizer splits numbers into single digits)."""

    ids: tuple[int, ...]

    @classmethod
    def of(cls, tokenizer) -> "Digits":
        return cls(tuple(single_token_id(tokenizer, str(d)) for d in range(10)))


FINISH_DIGITS = 6  # a number the model writes in full, however large, up to this many digits


def number(lo: int, hi: int, digits: Digits, then: Node, finish: bool = False) -> Node:
    """A decimal integer in [lo, hi] without leading zeros, then `then`.

    `finish`: above `hi` the number may go on (up to FINISH_DIGITS digits) rather than be cut
    short (3840 would otherwise end as 384, a valid but wrong value); the reader then clamps
    or refuses it.
    """
    if lo > hi or lo < 0:
        raise ValueError(f"empty number range [{lo}, {hi}]")
    if finish:
        hi = max(hi, 10**FINISH_DIGITS - 1)
    max_len = len(str(hi))

    def viable(prefix: str) -> bool:
        if len(prefix) > 1 and prefix[0] == "0":
            return False
        value = int(prefix)
        for extra in range(0, max_len - len(prefix) + 1):
            low, high = value * 10**extra, (value + 1) * 10**extra - 1
            if prefix == "0" and extra:
                return False
            if low <= hi and high >= lo:
                return True
        return False

    def node(prefix: str) -> Node:
        def build() -> dict[int, Node]:
            edges = {digits.ids[d]: node(prefix + str(d)) for d in range(10) if viable(prefix + str(d))}
            if prefix and lo <= int(prefix) <= hi:
                edges.update(then.edges())
            return edges

        return Lazy(build)

    return node("")


def single_token_id(tokenizer, text: str) -> int:
    encoded = tokenizer.encode(text, add_special_tokens=False)
    if len(encoded) != 1:
        raise ModelLoadError(f"the planner's tokenizer has no single token for {text!r}")
    return int(encoded[0])


# -- the Unison plan grammar -------------------------------------------------------------------
SELECTORS = ("<BOFIDX>", "<BOEDIT>", "<REF>", "<CTRL>")  # at most one: each picks the task


def unison_plan_grammar(tokenizer, end_ids: Sequence[int], media_count: int | None,
                        allow_prose: bool = True, prose_tokens: int | None = None) -> Node:
    """Start node of the plan grammar (see module doc); `end_ids[0]` closes a plan. A prose
    answer is cut after `prose_tokens` tokens (planning only needs to know it is prose).

    It accepts what `plan.Plan.from_tokens` accepts: blocks in any order, each at most once, at
    most one selector, media indices below `media_count`; numbers at least facts' minimum and
    written in full (`Plan.from_tokens(clamp=True)` brings one above the maximum into range).
    """
    from .. import facts

    tok = {name: single_token_id(tokenizer, name) for name in UNISON_TOKENS}
    digits = Digits.of(tokenizer)
    comma = single_token_id(tokenizer, ",")
    end = Fixed({end_ids[0]: ACCEPT})
    size = (facts.MIN_SIDE, facts.MAX_SIDE)
    frames = (0, facts.MAX_FRAMES - 1)  # <BONF>n<EONF> is n+1 frames
    count = 10 if media_count is None else min(media_count, 10)

    def numbers(ranges: Sequence[tuple[int, int]], then: Node) -> Node:
        node = then
        for i, (lo, hi) in enumerate(reversed(ranges)):
            node = number(lo, hi, digits, node if i == 0 else Fixed({comma: node}), finish=True)
        return node

    def body(block: str, then: Node) -> Node:
        closed = {"<BORES>": "<EORES>", "<BONF>": "<EONF>", "<BOFIDX>": "<EOFIDX>", "<BOEDIT>": "<EOEDIT>"}
        if block not in closed:
            return then  # <REF>, <CTRL>: flags
        close = Fixed({tok[closed[block]]: then})
        if block == "<BORES>":
            return numbers([size, size], close)
        if block == "<BONF>":
            return numbers([frames], close)
        if block == "<BOFIDX>":  # 0 first, 1 last, 0,1 first and last
            return Fixed({digits.ids[0]: union(close, Fixed({comma: Fixed({digits.ids[1]: close})})),
                          digits.ids[1]: close})
        return _edit_indices(count, digits, comma, close)

    states: dict[frozenset, Node] = {}

    def state(used: frozenset) -> Node:
        if used not in states:
            states[used] = Lazy(lambda: edges(used))
        return states[used]

    def edges(used: frozenset) -> dict[int, Node]:
        out = {tok["<CFV>"]: end}
        if "<BOFIDX>" not in used:
            out[tok["<CFI>"]] = end
        has_selector = any(b in used for b in SELECTORS)
        for block in ("<BORES>", "<BONF>") + (SELECTORS if count else ()):
            if block in used or (block in SELECTORS and has_selector):
                continue
            out[tok[block]] = body(block, state(used | {block}))
        return out

    plan_start = state(frozenset())
    if not allow_prose:
        return plan_start
    # Prose: any first token that neither starts a plan nor ends the turn; then free text
    # without plan tokens (an answer must not smuggle in half a plan).
    prose = Free(banned=tok.values(), end_ids=end_ids, limit=prose_tokens)
    return _PlanOrProse(plan_start, prose, closed=set(tok.values()) | set(end_ids))


def _edit_indices(count: int, digits: Digits, comma: int, close: Node) -> Node:
    """`s` (source alone) or `m,s` with m != s, both below `count` (single digits)."""
    def after_first(first: int) -> Node:
        seconds = {digits.ids[j]: close for j in range(count) if j != first}
        return union(close, Fixed({comma: Fixed(seconds)})) if seconds else close

    return Fixed({digits.ids[i]: after_first(i) for i in range(count)})


class _PlanOrProse(Node):
    def __init__(self, plan_start: Node, prose: Free, closed: set[int]):
        self.plan_start, self.prose, self.closed = plan_start, prose, frozenset(closed)

    def edges(self) -> dict[int, Node]:
        return self.plan_start.edges()

    def step(self, token: int) -> Node | None:
        if token in self.plan_start.edges():
            return self.plan_start.edges()[token]
        return None if token in self.closed else self.prose




# -- JSON skeleton grammar ---------------------------------------------------------------------
@dataclass(frozen=True)
class JsonField:
    """One key of the skeleton: `kind` is "enum" (quoted strings) or "int"; `nullable` adds null."""

    key: str
    kind: str
    options: tuple[str, ...] = ()
    lo: int = 0
    hi: int = 0
    nullable: bool = False
    finish: bool = False  # an int above `hi` is written in full (see `number`)


def tagged_json_grammar(tokenizer, tag: str, branches: dict[str, Sequence[JsonField]], end_id: int) -> Node:
    """`{"<tag>":"<name>",<fields of that name>...}` then `end_id`: the tag's value (e.g. the
    task) is chosen first and decides which keys follow, in the order given."""
    encode = _encoder(tokenizer)
    digits = Digits.of(tokenizer)
    close = sequence(encode("}"), Fixed({end_id: ACCEPT}))
    names = list(branches)
    rests = [_fields(branches[name], encode, digits, close) for name in names]
    values = choice([encode(f'"{name}"') for name in names], rests)
    return sequence(encode("{" + f'"{tag}":'), values)


def _fields(fields: Sequence[JsonField], encode, digits: "Digits", then: Node) -> Node:
    node = then
    for field in reversed(fields):
        node = sequence(encode(f',"{field.key}":'), _value(field, encode, digits, node))
    return node


def _value(field: JsonField, encode, digits: "Digits", then: Node) -> Node:
    if field.kind == "enum":
        values = choice([encode(f'"{o}"') for o in field.options], then)
    elif field.kind == "int":
        values = number(field.lo, field.hi, digits, then, finish=field.finish)
    else:
        raise ValueError(f"unknown JSON field kind {field.kind!r}")
    return union(values, sequence(encode("null"), then)) if field.nullable else values


def _encoder(tokenizer) -> Callable[[str], list[int]]:
    return lambda text: list(tokenizer.encode(text, add_special_tokens=False))


# -- the logits processor ----------------------------------------------------------------------
class GrammarWalker:
    """Follows one sequence through the automaton."""

    def __init__(self, start: Node):
        self.node: Node | None = start
        self.free_tokens = 0

    def step(self, token: int) -> None:
        node = self.node
        if node is None:
            return
        if node.free:
            self.free_tokens += 1
            return
        if isinstance(node, _PlanOrProse):
            self.node = node.step(token)
            self.free_tokens = 1  # the first prose token counts towards the limit
        else:
            self.node = node.edges().get(token)

    def mask(self, vocab_size: int):
        """Boolean tensor, True where a token is allowed (None: everything is allowed)."""
        import torch

        node = self.node
        if node is None:
            return None
        allowed = torch.zeros(vocab_size, dtype=torch.bool)
        if node.free:
            if node.limit is not None and self.free_tokens + 1 >= node.limit:
                allowed[list(node.end_ids)] = True
                return allowed
            allowed[:] = True
            allowed[[i for i in node.banned if i < vocab_size]] = False
            return allowed
        if isinstance(node, _PlanOrProse):
            allowed[:] = True
            allowed[[i for i in node.closed if i < vocab_size]] = False
        ids = [i for i in node.edges() if i < vocab_size]
        allowed[ids] = True
        return allowed


def logits_processor(start: Node, prompt_length: int):
    """A `transformers.LogitsProcessor` that enforces the grammar from `start` (batch of any size)."""
    from transformers import LogitsProcessor

    class GrammarLogitsProcessor(LogitsProcessor):
        def __init__(self):
            self.walkers: list[GrammarWalker] = []
            self.seen = prompt_length

        def __call__(self, input_ids, scores):
            if not self.walkers:
                self.walkers = [GrammarWalker(start) for _ in range(input_ids.shape[0])]
            for row, walker in enumerate(self.walkers):
                for token in input_ids[row, self.seen:].tolist():
                    walker.step(token)
                allowed = walker.mask(scores.shape[-1])
                if allowed is not None:
                    scores[row, ~allowed.to(scores.device)] = float("-inf")
            self.seen = input_ids.shape[1]
            return scores

    return GrammarLogitsProcessor()
