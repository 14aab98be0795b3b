"""Reading a free-text PROMPT: the tonal edits, removal and background changes the offline engine can do."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RGB = tuple[int, int, int]

COLOURS: dict[str, RGB] = {
    "red": (220, 30, 30),
    "orange": (255, 140, 0),
    "yellow": (250, 220, 30),
    "gold": (212, 175, 55),
    "green": (40, 180, 60),
    "teal": (0, 128, 128),
    "cyan": (0, 200, 220),
    "blue": (30, 80, 230),
    "purple": (128, 50, 170),
    "violet": (140, 80, 220),
    "magenta": (220, 0, 180),
    "pink": (255, 120, 180),
    "brown": (130, 80, 40),
}
# Neutral colours only make sense as a background fill, never as a tint.
FILL_COLOURS: dict[str, RGB] = dict(
    COLOURS,
    white=(255, 255, 255),
    black=(12, 12, 12),
    grey=(128, 128, 128),
    gray=(128, 128, 128),
    navy=(20, 30, 90),
    beige=(225, 210, 180),
    cream=(250, 243, 224),
)
_COLOUR_ALIASES = {
    "reddish": "red",
    "redder": "red",
    "orangey": "orange",
    "orangish": "orange",
    "yellowish": "yellow",
    "yellower": "yellow",
    "greenish": "green",
    "greener": "green",
    "bluish": "blue",
    "blueish": "blue",
    "bluer": "blue",
    "purplish": "purple",
    "pinkish": "pink",
    "pinker": "pink",
    "brownish": "brown",
}

_INTENT_WORDS: dict[str, str] = {}
for _intent, _words in {
    "warmer": "warm warmer warmth warmed sunset sunny golden",
    "cooler": "cool cooler cold colder icy chilly",
    "brighter": "bright brighter brighten brightened brightness lighter lighten exposure",
    "darker": "dark darker darken darkened dim dimmer",
    "more contrast": "contrast contrasty punchy punchier",
    "less contrast": "flat flatter soft softer",
    "more saturated": "saturate saturated saturation vivid vibrant colorful colourful rich richer",
    "less saturated": "desaturate desaturated muted faded fade dull duller",
    "black and white": "grayscale greyscale monochrome mono bw",
    "sepia": "sepia vintage antique",
    "vignette": "vignette vignetting",
    "denoise": "denoise denoised denoising noise noisy grain grainy",
    "blur": "blur blurry blurred blurrier soften defocus",
    "sharpen": "sharpen sharpened sharper sharp sharpness crisp crisper clarity",
}.items():
    for _word in _words.split():
        _INTENT_WORDS[_word] = _intent
for _name in COLOURS:
    _INTENT_WORDS[_name] = f"tint {_name}"
for _alias, _name in _COLOUR_ALIASES.items():
    _INTENT_WORDS[_alias] = f"tint {_name}"

TONAL_INTENTS: tuple[str, ...] = (
    "denoise",
    "black and white",
    "sepia",
    "brighter",
    "darker",
    "more contrast",
    "less contrast",
    "more saturated",
    "less saturated",
    "warmer",
    "cooler",
    *(f"tint {n}" for n in COLOURS),
    *(f"less {n}" for n in COLOURS),
    "blur",
    "sharpen",
    "vignette",
)
"""Every tonal intent, in the order they are applied (noise first, tone, colour, detail, then vignette)."""

_LESS = "<less>"
# Multi-word phrases win over their single words, so "washed out" is not "out" ignored.
_PHRASES: dict[tuple[str, ...], str] = {
    ("black", "and", "white"): "black and white",
    ("b", "and", "w"): "black and white",
    ("golden", "hour"): "warmer",
    ("washed", "out"): "less saturated",
    ("tone", "down"): _LESS,
    ("turn", "down"): _LESS,
    ("less", "noise"): "denoise",
    ("reduce", "noise"): "denoise",
    ("reduce", "the", "noise"): "denoise",
    ("remove", "noise"): "denoise",
    ("remove", "the", "noise"): "denoise",
}
_MAX_PHRASE = max(len(p) for p in _PHRASES)

_OPPOSITES = {
    "warmer": "cooler",
    "brighter": "darker",
    "more contrast": "less contrast",
    "more saturated": "less saturated",
    "blur": "sharpen",
}
_OPPOSITES.update({v: k for k, v in list(_OPPOSITES.items())})
for _name in COLOURS:
    _OPPOSITES[f"tint {_name}"] = f"less {_name}"

_REDUCERS = frozenset("less lower low reduce reduced decrease fewer lessen minus".split())
_NEGATORS = frozenset("not no without never nor don't dont".split())
_REMOVERS = frozenset("remove erase delete eliminate".split())
_REMOVER_PHRASES = (("clean", "up"), ("get", "rid", "of"), ("take", "out"), ("take", "away"), ("rub", "out"))
_BACKGROUND = frozenset("background backdrop bg backgrounds".split())
_REPLACERS = frozenset("replace replaced replacing swap change changed set turn use with into plain solid".split())
# Verbs that ask for new content to be drawn: a clause led by one is skipped unless all of it is understood.
_GENERATIVE = frozenset("add put insert place draw include paint create generate show".split())
_CLAUSE_BREAKS = frozenset({",", "then"})
_STOPWORDS = frozenset(
    """
    a an the make makes making made it its it's this that these those add adding more most much
    with and to of in on at by for from as into onto over up out image images photo photos picture
    pic shot please pls bit little slightly slight very really lot lots tad touch some somewhat quite
    too so just overall whole entire everything all lighting light lights tone tones toned colour
    color colours colors coloured colored look looks looking feel feeling vibe mood style tint tinted
    tinge hue shade shades toward towards down be is are was should could would can will i me my we
    our us you your want wanted like need give get let lets let's now than then also but or while
    keep keeping increase increased boost higher high extra even way kind sort effect filter version
    one percent area selected selection region part bit here there
    """.split()
)
_NUMBER = re.compile(r"^\d+(?:\.\d+)?%?$")


@dataclass(frozen=True)
class Edit:
    """One tonal edit and, when the prompt gave one, its amount as a fraction (0.2 for "20%")."""

    name: str
    amount: float | None = None

    def __str__(self) -> str:
        """The edit as the notes show it: "brighter" or "brighter 20%"."""
        return self.name if self.amount is None else f"{self.name} {round(self.amount * 100)}%"


@dataclass(frozen=True)
class BackgroundChange:
    """What to do outside the subject: blur it, fill it with one colour or a two-colour gradient, or re-tone it."""

    blur: bool = False
    fill: tuple[RGB, ...] = ()
    gradient: bool = False
    edits: tuple[Edit, ...] = ()

    def describe(self) -> str:
        """A short account for the notes, e.g. "background replaced with a gradient"."""
        parts = []
        if self.blur:
            parts.append("background blurred")
        if self.gradient:
            parts.append("background replaced with a gradient")
        elif self.fill:
            parts.append("background replaced with a solid colour")
        if self.edits:
            parts.append(f"background made {', '.join(str(e) for e in self.edits)}")
        return "; ".join(parts)


@dataclass
class PromptPlan:
    """Everything a prompt asks of the offline engine, and the words it could not use."""

    edits: list[Edit] = field(default_factory=list)
    removal: str | None = None
    background: BackgroundChange | None = None
    ignored: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when there is nothing the engine can do."""
        return not self.edits and self.removal is None and self.background is None


def _tokens(prompt: str) -> list[str]:
    """Lower-case words and numbers of the prompt, "," for any clause break, '&' read as 'and'."""
    text = prompt.lower().replace("\u2019", "'").replace("\u2018", "'")
    found = re.findall(r"\d+(?:\.\d+)?\s*%?|[a-z0-9]+(?:'[a-z]+)?|&|[,.;:!?]", text)
    return ["and" if t == "&" else "," if t in ",.;:!?" else t.replace(" ", "") for t in found]


def _clauses(tokens: list[str]) -> list[list[str]]:
    """The tokens split at punctuation, "then" and an "and" that does not sit inside "black and white"."""
    clauses: list[list[str]] = [[]]
    for i, token in enumerate(tokens):
        inside_phrase = token == "and" and 0 < i < len(tokens) - 1 and tokens[i + 1] in ("white", "w")
        if token in _CLAUSE_BREAKS or (token == "and" and not inside_phrase):
            clauses.append([])
        else:
            clauses[-1].append(token)
    return [c for c in clauses if c]


def _amount(token: str) -> float | None:
    """A number token as a fraction: "20%" and "20" are 0.2; None when it is not a number."""
    if not _NUMBER.match(token):
        return None
    return min(float(token.rstrip("%")) / 100.0, 1.0)


def _match_at(tokens: list[str], i: int) -> tuple[str | None, int]:
    """The intent or modifier that starts at token i and how many tokens it spans."""
    for length in range(min(_MAX_PHRASE, len(tokens) - i), 1, -1):
        found = _PHRASES.get(tuple(tokens[i : i + length]))
        if found:
            return found, length
    return _INTENT_WORDS.get(tokens[i]), 1


def _remover_at(tokens: list[str], i: int) -> int:
    """How many tokens a removal verb at token i spans, 0 when there is none."""
    if tokens[i] in _REMOVERS:
        return 1
    for phrase in _REMOVER_PHRASES:
        if tuple(tokens[i : i + len(phrase)]) == phrase:
            return len(phrase)
    return 0


def _note(items: list, item: object) -> None:
    """Add `item` once, keeping first-seen order."""
    if item not in items:
        items.append(item)


def _tonal(tokens: list[str]) -> tuple[list[Edit], list[str]]:
    """The tonal edits in a clause and the words of it that were not understood."""
    edits: list[Edit] = []
    ignored: list[str] = []
    # A pending "less"/"not" applies to the next intent, even across stopwords ("less of the red").
    pending: tuple[str, int] | None = None
    amount: float | None = None
    i = 0
    while i < len(tokens):
        start = i
        found, length = _match_at(tokens, i)
        words = " ".join(tokens[i : i + length])
        i += length
        number = _amount(words)
        if number is not None:
            # "20% brighter" gives the next edit its amount; "brighter by 20%" the one just read.
            if edits and edits[-1].amount is None and tokens[start - 1 : start] == ["by"]:
                edits[-1] = Edit(edits[-1].name, number)
            else:
                amount = number
            continue
        if found == _LESS or (found is None and (words in _REDUCERS or words in _REMOVERS)):
            pending = ("less", start)
            continue
        if found is None:
            if words in _NEGATORS:
                pending = ("not", start)
            elif words not in _STOPWORDS:
                _note(ignored, words)
                pending = None
            continue
        if pending is None:
            name = found
        elif pending[0] == "less" and found in _OPPOSITES:
            name = _OPPOSITES[found]
        else:
            # "not warmer" (or "less black and white") has no edit to apply; say so rather than guess.
            _note(ignored, " ".join(tokens[pending[1] : i]))
            pending = None
            continue
        if all(e.name != name for e in edits):
            edits.append(Edit(name, amount))
        pending, amount = None, None
    return edits, ignored


def _removal(tokens: list[str]) -> str | None:
    """What a clause asks to remove ("the logo"), "" for a bare "remove it", None when it is no removal."""
    for i in range(len(tokens)):
        length = _remover_at(tokens, i)
        if not length:
            continue
        rest = tokens[i + length :]
        edits, unknown = _tonal(rest)
        # "remove the red tint" or "remove the noise" is a colour or noise edit, not an object to erase.
        if edits and not unknown:
            return None
        return " ".join(t for t in rest if t not in ("the", "a", "an", "it", "this", "that", "those", "these"))
    return None


_SHADES = {"light": 0.55, "pale": 0.7, "pastel": 0.6, "soft": 0.45, "dark": -0.5, "deep": -0.35}


def _shaded(colour: RGB, shade: str) -> RGB:
    """The colour lightened towards white (shade > 0) or darkened towards black (shade < 0)."""
    t = _SHADES.get(shade, 0.0)
    if t >= 0:
        return tuple(round(c + (255 - c) * t) for c in colour)  # type: ignore[return-value]
    return tuple(round(c * (1 + t)) for c in colour)  # type: ignore[return-value]


def _background(tokens: list[str]) -> tuple[BackgroundChange | None, list[str]]:
    """The background change a clause naming the background asks for, and its words not understood."""
    words = [t for t in tokens if t not in _BACKGROUND]
    colours: list[RGB] = []
    for i, word in enumerate(words):
        if word in FILL_COLOURS:
            shade = words[i - 1] if i else ""
            colours.append(_shaded(FILL_COLOURS[word], shade))
    # "light blue" is one colour, not a blue fill plus a brighter background.
    words = [
        w for i, w in enumerate(words) if not (w in _SHADES and words[i + 1 : i + 2] and words[i + 1] in FILL_COLOURS)
    ]
    gradient = "gradient" in words
    wants_fill = gradient or bool(colours)
    removal = _removal(tokens) is not None
    edits, unknown = _tonal([t for t in words if t not in FILL_COLOURS and t not in _REPLACERS and t != "gradient"])
    blur = any(e.name == "blur" for e in edits)
    edits = [e for e in edits if e.name != "blur"]
    if removal and not wants_fill:
        # "remove the background" leaves a clean white one.
        wants_fill, colours = True, [FILL_COLOURS["white"]]
    unknown = [u for u in unknown if u not in _REMOVERS and u not in ("clean", "rid", "take", "away")]
    if not (blur or wants_fill or edits):
        return None, unknown
    fill: tuple[RGB, ...] = tuple(colours[:2]) if wants_fill else ()
    if wants_fill and not fill and not gradient:
        fill = (FILL_COLOURS["white"],)
    return BackgroundChange(blur=blur, fill=fill, gradient=gradient, edits=tuple(edits)), unknown


def parse_prompt(prompt: str | None) -> PromptPlan:
    """What a free-text prompt asks the offline engine to do, clause by clause."""
    plan = PromptPlan()
    for clause in _clauses(_tokens(prompt or "")):
        if _BACKGROUND & set(clause):
            change, unknown = _background(clause)
            if change is None or (_GENERATIVE & set(clause) and unknown):
                _note(plan.ignored, " ".join(clause))
                continue
            plan.background = (
                change
                if plan.background is None
                else BackgroundChange(
                    blur=plan.background.blur or change.blur,
                    fill=plan.background.fill or change.fill,
                    gradient=plan.background.gradient or change.gradient,
                    edits=plan.background.edits + change.edits,
                )
            )
            for word in unknown:
                _note(plan.ignored, word)
            continue
        target = _removal(clause)
        if target is not None:
            if plan.removal is None:
                plan.removal = target
            continue
        edits, unknown = _tonal(clause)
        if _GENERATIVE & set(clause) and unknown:
            # "add a red surfer" asks for a surfer, not a red tint.
            _note(plan.ignored, " ".join(t for t in clause if t != ","))
            continue
        for edit in edits:
            if all(e.name != edit.name for e in plan.edits):
                plan.edits.append(edit)
        for word in unknown:
            _note(plan.ignored, word)
    return plan


def parse_prompt_intents(prompt: str | None) -> tuple[list[str], list[str]]:
    """The tonal edits a prompt asks for, by name, and the words it ignored."""
    plan = parse_prompt(prompt)
    return [e.name for e in plan.edits], plan.ignored
