"""A small pure-Python language identifier (no model, no dependency).

Two steps, as light detectors do:

1. **Script.** Letters are counted by Unicode script. A text mostly in Cyrillic, Greek,
   Arabic, Hebrew, Devanagari, Thai, Hangul, Japanese kana or Han is identified by its
   script (``ru``, ``el``, ``ar``, ``he``, ``hi``, ``th``, ``ko``, ``ja``, ``zh``; Cyrillic
   text with Ukrainian letters is ``uk``).
2. **Stopwords**, for Latin-script text: the share of words that are among the ~40 most
   frequent function words of English, French, German, Spanish, Italian, Portuguese, Dutch,
   Swedish, Polish or Indonesian. The best language wins when at least 15 % of the words are
   its stopwords and it leads the second by a margin; otherwise the text is ``und``
   (undetermined) - e.g. code, lists of names, or noise from an untrained model.

It is right for ordinary prose of a sentence or more; it is not for tweets or mixed text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

UNDETERMINED = "und"
#: Texts with fewer words are not judged by language (too little to tell).
MIN_WORDS = 4

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)

_STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the be to of and a in that have it for not on with he as you do at this but his by from they we "
        "say her she or an will my one all would there their what so up out if about who get which go me is are "
        "was were has been how can your its our",
        "fr": "le la les de des du un une et est en que qui dans pour pas sur au aux avec ce cette il elle ils nous "
        "vous je son sa ses par plus ne se mais ou comme être avoir sont été leur",
        "de": "der die das und ist nicht ein eine zu den von mit sich des auf für im dem es auch als an er sie wir "
        "ich nach wie bei oder aus wenn noch sind war hat werden kann einen",
        "es": "el la los las de del y en que es un una por con no para se lo como más pero sus su al le ya o este "
        "esta sí porque muy sin sobre también me hasta hay donde están son",
        "it": "il lo la le gli di del della e è in che un una per con non si da al alla dei delle come più ma anche "
        "sono questo questa ha nel nella mi ci se perché",
        "pt": "o a os as de do da dos das e em um uma que é para com não por no na se mais como mas ao foi são "
        "também seu sua ou quando muito nos já está eu",
        "nl": "de het een en van is dat die in te zijn op met voor niet er aan ook als maar om door bij dan nog wordt "
        "naar kan wel heeft ik je hij zij we",
        "sv": "och att det som en på är av för med till den har de inte om ett var jag men så han vi från kan eller "
        "hade sig ska när efter",
        "pl": "i w na z się nie do to że jest o jak ale po co tak za od jego przez czy już tylko przy być może są "
        "oraz dla ten ta było",
        "id": "yang dan di ke dari ini itu dengan untuk tidak dalam akan pada juga adalah ada oleh atau karena "
        "bisa saya kami mereka sudah telah lebih",
    }.items()
}

_SCRIPTS = (
    ("CYRILLIC", "ru"),
    ("GREEK", "el"),
    ("ARABIC", "ar"),
    ("HEBREW", "he"),
    ("DEVANAGARI", "hi"),
    ("THAI", "th"),
    ("HANGUL", "ko"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("CJK", "zh"),
    ("LATIN", "latin"),
)
_UKRAINIAN = set("іїєґІЇЄҐ")


def _script(ch: str) -> str | None:
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    for prefix, script in _SCRIPTS:
        if name.startswith(prefix) or f" {prefix}" in name[:20]:
            return script
    return None


def scripts(text: str) -> Counter[str]:
    """Letters of ``text`` counted by script (``latin``, ``ru``, ``zh``, ``ja``...)."""
    counts: Counter[str] = Counter()
    for ch in text:
        if ch.isalpha():
            script = _script(ch)
            if script:
                counts[script] += 1
    return counts


def detect_language(text: str) -> tuple[str, float]:
    """``(ISO 639-1 code or "und", confidence 0..1)`` of ``text``."""
    counts = scripts(text)
    letters = sum(counts.values())
    if letters == 0:
        return UNDETERMINED, 0.0
    script, n = counts.most_common(1)[0]
    share = n / letters
    if script != "latin":
        if script == "zh" and counts.get("ja", 0) >= 0.1 * letters:
            script = "ja"  # kana beside the Han characters
        if script == "ru" and any(ch in _UKRAINIAN for ch in text):
            script = "uk"
        return (script, share) if share >= 0.5 else (UNDETERMINED, share)
    words = [w.lower().replace("’", "'") for w in _WORD.findall(text)]
    if not words:
        return UNDETERMINED, 0.0
    scores = {lang: sum(w in stop for w in words) / len(words) for lang, stop in _STOPWORDS.items()}
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top >= 0.15 and top >= 1.3 * second and top - second >= 0.04:
        return best, min(1.0, top * 2)
    return UNDETERMINED, top
