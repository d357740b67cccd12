"""Given names and the familiar forms people use for them, for matching records.

A small table of common English given names and their well-known short forms, enough
for Bob to meet Robert and Peggy to meet Margaret. A familiar form may belong to more
than one name (Pat: Patricia or Patrick; Nell: Helen or Eleanor), so each name maps to
the set of groups it belongs to, and two names are familiar forms of each other when
their groups meet. Names that are not in the table are their own group.
"""

from __future__ import annotations

from functools import cache

#: Each formal name with its familiar forms (lower case, letters only).
_GROUPS: dict[str, tuple[str, ...]] = {
    "alexander": ("alex", "alec", "sandy", "xander"),
    "alexandra": ("alex", "sandra", "sandy", "lexi"),
    "andrew": ("andy", "drew"),
    "anne": ("ann", "annie", "nan", "nancy", "anna"),
    "anthony": ("tony", "ant"),
    "benjamin": ("ben", "benny", "benji"),
    "catherine": ("kate", "katie", "cathy", "cath", "kay", "kathy", "katherine", "kathryn"),
    "charles": ("charlie", "chas", "chuck", "chaz"),
    "christopher": ("chris", "kit", "topher"),
    "christine": ("chris", "chrissie", "tina"),
    "daniel": ("dan", "danny"),
    "david": ("dave", "davy", "davie"),
    "deborah": ("debbie", "deb", "debra"),
    "dorothy": ("dot", "dotty", "dolly", "dora"),
    "edward": ("ed", "eddie", "ted", "teddy", "ned"),
    "eleanor": ("ellie", "nell", "nora", "elly"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "bess", "eliza", "libby", "elsie"),
    "frances": ("fran", "frankie", "fanny"),
    "francis": ("frank", "frankie"),
    "frederick": ("fred", "freddie", "freddy"),
    "gerald": ("gerry", "jerry"),
    "helen": ("nell", "nellie", "ellen"),
    "henry": ("harry", "hal", "hank"),
    "james": ("jim", "jimmy", "jamie", "jem"),
    "jennifer": ("jen", "jenny", "jenni"),
    "john": ("jack", "johnny", "jon", "jonny"),
    "joseph": ("joe", "joey", "jo"),
    "josephine": ("jo", "josie", "jose"),
    "leonard": ("len", "lenny", "leo"),
    "margaret": ("peggy", "maggie", "meg", "madge", "marge", "margie", "greta", "rita"),
    "mary": ("molly", "polly", "mae", "may", "mamie"),
    "matthew": ("matt", "matty"),
    "michael": ("mike", "mick", "micky", "mickey", "mikey"),
    "nicholas": ("nick", "nicky", "nico"),
    "patricia": ("pat", "patty", "patsy", "trish", "tricia"),
    "patrick": ("pat", "paddy", "rick"),
    "peter": ("pete",),
    "philip": ("phil", "pip"),
    "raymond": ("ray",),
    "rebecca": ("becky", "becca", "becks"),
    "richard": ("dick", "rick", "ricky", "richie", "rich"),
    "robert": ("bob", "bobby", "rob", "robbie", "bert", "robin"),
    "ronald": ("ron", "ronnie"),
    "samuel": ("sam", "sammy"),
    "sarah": ("sally", "sadie", "sara"),
    "stephen": ("steve", "stevie", "steven"),
    "susan": ("sue", "susie", "suzy", "suzanne"),
    "thomas": ("tom", "tommy", "thom"),
    "timothy": ("tim", "timmy"),
    "victoria": ("vicky", "vicki", "tori", "vic"),
    "walter": ("walt", "wally"),
    "william": ("bill", "billy", "will", "willy", "liam", "willie"),
}


@cache
def _membership() -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for formal, familiar in _GROUPS.items():
        for name in (formal, *familiar):
            found.setdefault(name, set()).add(formal)
    return {name: frozenset(groups) for name, groups in found.items()}


def groups(name: str) -> frozenset[str]:
    """The formal names ``name`` (lower case, letters only) is, or is a familiar form of;
    a name the table does not know is its own group."""
    return _membership().get(name, frozenset({name}))


def familiar(a: str, b: str) -> bool:
    """Whether two different names are the same given name in formal and familiar forms."""
    return a != b and bool(groups(a) & groups(b))
