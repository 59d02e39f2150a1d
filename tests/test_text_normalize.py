"""normalize_text: every edit of the issue is invisible in the text signal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tahaluf.signals.normalize import normalize_text
from tahaluf.signals.text import text_signal

AR = "أعلنت بلدية القاهرة عن خط حافلات جديد يعمل يوم الأحد، وستصل درجة الحرارة إلى 35 درجة مئوية في المساء"
AR_THIS = "هذا الطقس جميل في الرباط لكن الرياح قوية على الساحل هذا المساء"
AR_HAMZA = "تتوقع الهيئة أن يكون الطقس مؤقتا هادئا في المدينة القديمة مع نسائم خفيفة على الشاطئ"
EN = "The new metro station in central Leeds opened to passengers on Monday, and 12 buses run every hour."
FR = "Le marché aux légumes a ouvert à l'aube ; la sœur du boulanger prépare une œuvre et des crêpes ?"
UNRELATED = {
    "ar": "سجل المهاجم هدفا رائعا في الدقيقة 41 من المباراة واحتفل المشجعون حتى ساعة متأخرة",
    "en": "The striker scored a superb goal in minute 41 and supporters celebrated until late.",
    "fr": "L'attaquant a marqué un but superbe à la 41e minute et les supporters ont fêté tard.",
}

# (name, clean text, edited text, language of the unrelated control)
EDITS = [
    ("tashkeel", AR, "أَعْلَنَتْ بَلَدِيَّةُ القَاهِرَةِ عَنْ خَطِّ حَافِلَاتٍ جَدِيدٍ يَعْمَلُ يَوْمَ الأَحَدِ، وَسَتَصِلُ دَرَجَةُ الحَرَارَةِ إِلَى 35 دَرَجَةً مِئَوِيَّةً فِي المَسَاءِ", "ar"),
    ("quranic_marks", AR, AR.replace("جديد", "جديد\u06d6").replace("الأحد", "الأحد\u06da\u06e2").replace("المساء", "المساء\u06dc\u06e5"), "ar"),
    ("superscript_alef", AR_THIS, AR_THIS.replace("هذا", "هٰذا").replace("لكن", "لٰكن"), "ar"),
    ("tatweel", AR, AR.replace("جديد", "جـــديد").replace("بلدية", "بلـدية"), "ar"),
    ("alef_forms", AR, AR.replace("أعلنت", "اعلنت").replace("إلى", "ٱلى").replace("الأحد", "الآحد"), "ar"),
    ("hamza_seats", AR_HAMZA, AR_HAMZA.replace("مؤقتا", "موقتا").replace("الهيئة", "الهييه").replace("نسائم", "نسايم"), "ar"),
    ("yeh_maqsura", AR, AR.replace("إلى", "إلي"), "ar"),
    ("teh_marbuta", AR, AR.replace("بلدية", "بلديه").replace("القاهرة", "القاهره").replace("درجة", "درجه"), "ar"),
    ("persian_forms", AR, AR.replace("ي", "ی").replace("ك", "ک").replace("درجة مئوية", "درجۀ مئويۀ"), "ar"),
    ("arabic_indic_digits", AR, AR.replace("35", "٣٥"), "ar"),
    ("persian_digits", EN, EN.replace("12", "۱۲"), "en"),
    ("zero_width", EN, EN.replace("metro", "me\u200btro").replace("central", "cen\u200c\u200dtral\u2060"), "en"),
    ("bidi_controls", AR, "\u202b" + AR.replace(" 35 ", " \u200e35\u200f ").replace("جديد", "جد\u061cيد") + "\u202c\u2066\u2069", "ar"),
    ("presentation_forms", AR, AR.replace("بلدية", "ﺑﻠﺪﻳﺔ").replace("الأحد", "ﺍﻷﺣﺪ"), "ar"),
    ("fullwidth", EN, EN.replace("Leeds", "Ｌｅｅｄｓ").replace("12", "１２"), "en"),
    ("case", EN, EN.upper(), "en"),
    ("accents", FR, FR.replace("é", "e").replace("à", "a").replace("è", "e"), "fr"),
    ("ligatures", FR, FR.replace("œ", "oe"), "fr"),
    ("latin_fi_ligature", EN.replace("hour", "fine hour"), EN.replace("hour", "ﬁne hour"), "en"),
    ("punctuation_latin", EN, EN.replace(",", "!!").replace(".", " ...") + " -- ;", "en"),
    ("punctuation_arabic", AR, AR.replace("،", "؛") + " ؟!", "ar"),
    ("emoji", EN, "🚇 " + EN.replace("Monday,", "Monday 👍🏽,") + " 🇬🇧👨‍👩‍👧❤️ 1️⃣", "en"),
    ("urls", AR, AR + " https://news.example.org/a/b?id=42&x=y www.example.com/p", "ar"),
    ("mentions", FR, "@demo_user " + FR + " @autre.compte", "fr"),
    ("hashtags_edge", AR, "#عاجل " + AR + " #الطقس #أخبار_اليوم", "ar"),
    ("hashtags_inline", EN, EN.replace("metro", "#metro").replace("Leeds", "#Leeds"), "en"),
    ("whitespace", FR, "  \n" + FR.replace(" ", "\t  ", 4).replace(" ", "\u00a0", 2) + " \r\n", "fr"),
]


@pytest.mark.parametrize("name, clean, edited, lang", EDITS, ids=[e[0] for e in EDITS])
def test_edit_is_invisible(name: str, clean: str, edited: str, lang: str) -> None:
    assert edited != clean, name
    assert normalize_text(edited) == normalize_text(clean)
    assert text_signal(edited).value == text_signal(clean).value
    assert text_signal(UNRELATED[lang]).value != text_signal(clean).value


def test_examples() -> None:
    assert normalize_text("أَهْلًا وَسَهْلًا بِكُمْ فِي عَمّان!") == "اهلا وسهلا بكم في عمان"
    assert normalize_text("Œuvre d’ÉTÉ à l'École ﬁn ＡＢＣ１２３") == "oeuvre d ete a l ecole fin abc123"
    assert normalize_text("ﻻ") == "لا"
    assert normalize_text("مدرسة مستشفى") == "مدرسه مستشفي"
    # a post made only of hashtags keeps their words
    assert normalize_text("#Weather #Today") == "weather today"
    assert normalize_text("😀 https://example.org @demo") == ""


def test_distinct_letters_are_kept() -> None:
    # Persian letters that are not spelling variants, and standalone hamza
    assert normalize_text("پ چ ژ گ ء") == "پ چ ژ گ ء"
    assert normalize_text("ماء") != normalize_text("ما")


text_alphabet = st.characters(
    codec="utf-8",
    categories=("L", "M", "N", "P", "S", "Z", "Cc", "Cf"),
)
mixed = st.one_of(
    st.text(alphabet=text_alphabet, max_size=60),
    st.text(alphabet=st.sampled_from(list("أإآٱؤئىيةهکی ـًٌٍَُِّْٰ#@/:.w٣۳ﻻ\u200c\u200fabcÉœﬁ ")), max_size=60),
)


@settings(max_examples=300, deadline=None)
@given(mixed)
def test_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert once == once.strip()
    assert "  " not in once
