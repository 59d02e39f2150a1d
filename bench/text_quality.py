"""Quality and speed measures of the ``text`` signal on a neutral corpus.

    .venv/bin/python bench/text_quality.py            # quality, v1 parameters
    .venv/bin/python bench/text_quality.py --sweep    # compare shingle kinds
    .venv/bin/python bench/text_quality.py --hashtags # compare hashtag policies
    .venv/bin/python bench/text_quality.py --speed    # vs datasketch MinHash
    .venv/bin/python bench/text_quality.py --suite    # edit suite through TextIndex vs pytx
    (TextIndex lookups/s: bench/text_index_bench.py)

The corpus is generated from neutral phrase lists (weather, transport,
cooking, football, markets) in Arabic, English and French; every post is
about 200-280 characters. Nothing here is used by the library.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Callable

import numpy as np

from tahaluf.signals import normalize as norm_mod
from tahaluf.signals.normalize import normalize_text
from tahaluf.signals.text import (
    TextSketch,
    containment,
    shingle_hashes,
    similarity,
    text_sketch,
    text_sketches,
)

# Each topic: sentence templates with {slots}; slot pools are shared per language.
AR = {
    "slots": {
        "city": ["القاهرة", "عمّان", "الرباط", "تونس", "بيروت", "الدوحة", "مسقط", "الجزائر", "دمشق", "الخرطوم"],
        "day": ["يوم الأحد", "يوم الإثنين", "صباح الثلاثاء", "مساء الأربعاء", "يوم الخميس", "نهاية الأسبوع", "غدًا", "بعد غد"],
        "num": ["12", "18", "24", "30", "35", "41", "7", "150", "2024", "90"],
        "adj": ["مُعتدل", "حارّ", "بارد", "هادئ", "مزدحم", "جميل", "طويل", "سريع", "واضح", "كبير"],
        "team": ["النادي الأهلي", "الوداد", "الترجي", "الهلال", "الفيصلي", "السدّ", "الزمالك", "الرجاء"],
        "food": ["العدس", "الأرز", "الفول", "الكسكس", "المقلوبة", "الحمّص", "الخبز", "الشوربة"],
        "good": ["الطماطم", "القمح", "الذهب", "البنّ", "السكّر", "الزيت", "القطن", "الشاي"],
    },
    "weather": [
        "تتوقّع الأرصاد أن يكون الطقس {adj} في {city} {day}.",
        "ستصل درجة الحرارة إلى {num} درجة مئوية في {city}.",
        "تهبّ رياح {adj}ة على السواحل مع سماء صافية إلى غائمة جزئيًا.",
        "يُنصح السائقون بالحذر بسبب الضباب الكثيف على الطرق {day}.",
        "تسجّل المحطة أمطارًا خفيفة بلغت {num} مليمترًا خلال الليل.",
        "الرطوبة مرتفعة في {city} ونسمات البحر تُخفّف الحرّ قليلًا.",
        "ينخفض الضغط الجوّي تدريجيًا ويعود الاستقرار إلى {city} {day}.",
        "رأى السكان قوس قزح فوق الجبال بعد زخّات المطر السريعة.",
    ],
    "transport": [
        "أعلنت بلدية {city} عن خطّ حافلات جديد يعمل {day}.",
        "سيُغلق الجسر القديم لأعمال الصيانة مدة {num} يومًا.",
        "تأخّر قطار الصباح {num} دقيقة بسبب عطل في الإشارات.",
        "افتُتحت محطة المترو الجديدة في وسط {city} أمام الركّاب.",
        "ازدحام {adj} على الطريق الدائري المؤدّي إلى المطار {day}.",
        "تنصح الشرطة بسلوك الطرق البديلة أثناء ساعات الذروة.",
        "ارتفع عدد مستخدمي الدرّاجات في {city} إلى {num} ألفًا.",
        "تمّ تمديد مواعيد العبّارة الليلية بين الميناء والجزيرة.",
    ],
    "cooking": [
        "اليوم نطبخ {food} مع البصل المحمّر والكمّون.",
        "اغسلوا {food} جيّدًا ثم انقعوه في الماء {num} دقيقة.",
        "أضيفوا رشّة ملح وقليلًا من زيت الزيتون قبل التقديم.",
        "يُطهى الطبق على نار {adj}ة حتى ينضج تمامًا.",
        "وصفة جدّتي من {city} تحتاج إلى {num} غرامًا من السمن.",
        "قدّموا {food} ساخنًا مع الليمون والخبز المحمّص.",
        "يمكن حفظ الباقي في الثلاجة لمدّة يومين على الأكثر.",
        "سؤال للمتابعين: هل تفضّلون {food} بالطماطم أم بالثوم؟",
    ],
    "football": [
        "فاز {team} على منافسه بهدفين مقابل هدف {day}.",
        "سجّل المهاجم هدفًا رائعًا في الدقيقة {num} من المباراة.",
        "يستضيف ملعب {city} مباراة القمّة أمام {num} ألف متفرّج.",
        "أعلن المدرّب تشكيلة {team} لمواجهة الأسبوع المقبل.",
        "انتهت المباراة بالتعادل بعد شوط ثانٍ {adj} جدًا.",
        "تعرّض حارس المرمى لإصابة خفيفة وسيغيب عن التدريب.",
        "يتصدّر {team} جدول الترتيب برصيد {num} نقطة.",
        "احتفل المشجّعون في شوارع {city} حتى ساعة متأخّرة.",
    ],
    "markets": [
        "ارتفع سعر {good} في سوق {city} بنسبة {num} بالمئة.",
        "استقرّت أسعار {good} هذا الأسبوع بعد تقلّبات {adj}ة.",
        "افتتح سوق الخضار الأسبوعي أبوابه {day} منذ الفجر.",
        "يتوقّع التجّار موسمًا {adj}ًا لمحصول {good} هذا العام.",
        "انخفضت أسعار الأسماك بعد عودة المراكب إلى الميناء.",
        "بلغ حجم التداول في البورصة {num} مليون دينار.",
        "يفضّل المستهلكون شراء {good} من الأسواق الشعبية.",
        "أُقيم معرض للمنتجات المحلية في ساحة {city} القديمة.",
    ],
}

EN = {
    "slots": {
        "city": ["Leeds", "Toronto", "Dublin", "Perth", "Denver", "Glasgow", "Austin", "Cardiff", "Boston", "Auckland"],
        "day": ["on Sunday", "on Monday", "on Tuesday morning", "on Wednesday evening", "on Thursday", "this weekend", "tomorrow", "next week"],
        "num": ["12", "18", "24", "30", "35", "41", "7", "150", "2024", "90"],
        "adj": ["mild", "hot", "cold", "calm", "busy", "pleasant", "long", "quick", "clear", "heavy"],
        "team": ["City", "Rovers", "United", "Athletic", "Wanderers", "Albion", "Rangers", "County"],
        "food": ["lentil soup", "rice", "bean stew", "couscous", "flatbread", "hummus", "pancakes", "omelette"],
        "good": ["tomatoes", "wheat", "gold", "coffee", "sugar", "olive oil", "cotton", "tea"],
    },
    "weather": [
        "Forecasters expect {adj} weather in {city} {day}.",
        "Temperatures will reach {num} degrees in {city}.",
        "A {adj} breeze will blow along the coast under partly cloudy skies.",
        "Drivers are advised to take care because of thick fog {day}.",
        "The station recorded {num} millimetres of light rain overnight.",
        "Humidity is high in {city} but a sea breeze eases the heat.",
        "Pressure is falling slowly and calm returns to {city} {day}.",
        "Residents saw a rainbow over the hills after a quick shower.",
    ],
    "transport": [
        "The {city} council announced a new bus route starting {day}.",
        "The old bridge will close for repairs for {num} days.",
        "The morning train was {num} minutes late due to a signal fault.",
        "The new metro station in central {city} opened to passengers.",
        "Traffic is {adj} on the ring road to the airport {day}.",
        "Police advise using alternative routes during rush hour.",
        "Cycling in {city} rose to {num} thousand riders a day.",
        "The night ferry between the harbour and the island runs later now.",
    ],
    "cooking": [
        "Today we are cooking {food} with fried onions and cumin.",
        "Rinse the {food} well and soak it in water for {num} minutes.",
        "Add a pinch of salt and a little olive oil before serving.",
        "Cook the dish over a {adj} flame until it is done.",
        "My grandmother's recipe from {city} needs {num} grams of butter.",
        "Serve the {food} hot with lemon and toasted bread.",
        "Leftovers keep in the fridge for two days at most.",
        "Question for you all: do you prefer {food} with tomato or garlic?",
    ],
    "football": [
        "{team} beat their rivals two goals to one {day}.",
        "The striker scored a superb goal in minute {num} of the match.",
        "The {city} stadium hosts the top game in front of {num} thousand fans.",
        "The coach named the {team} line-up for next week's fixture.",
        "The match ended in a draw after a {adj} second half.",
        "The goalkeeper picked up a minor injury and will miss training.",
        "{team} top the table with {num} points.",
        "Supporters celebrated in the streets of {city} until late.",
    ],
    "markets": [
        "The price of {good} in the {city} market rose by {num} percent.",
        "Prices of {good} held steady this week after {adj} swings.",
        "The weekly vegetable market opened its doors {day} at dawn.",
        "Traders expect a {adj} season for the {good} harvest this year.",
        "Fish prices fell after the boats returned to the harbour.",
        "Trading volume on the exchange reached {num} million.",
        "Shoppers prefer to buy {good} at the open-air markets.",
        "A fair of local products was held in the old square of {city}.",
    ],
}

FR = {
    "slots": {
        "city": ["Lyon", "Québec", "Genève", "Nantes", "Liège", "Dakar", "Rennes", "Besançon", "Montréal", "Nîmes"],
        "day": ["dimanche", "lundi", "mardi matin", "mercredi soir", "jeudi", "ce week-end", "demain", "la semaine prochaine"],
        "num": ["12", "18", "24", "30", "35", "41", "7", "150", "2024", "90"],
        "adj": ["doux", "chaud", "froid", "calme", "chargé", "agréable", "long", "rapide", "dégagé", "fort"],
        "team": ["l'Olympique", "le Stade", "l'Étoile", "le Racing", "l'Union", "le Sporting", "l'AS", "le FC"],
        "food": ["la soupe de lentilles", "le riz", "le ragoût de fèves", "le couscous", "la galette", "le houmous", "les crêpes", "l'omelette"],
        "good": ["tomates", "blé", "or", "café", "sucre", "huile d'olive", "coton", "thé"],
    },
    "weather": [
        "Les prévisionnistes annoncent un temps {adj} à {city} {day}.",
        "Les températures atteindront {num} degrés à {city}.",
        "Un vent {adj} soufflera sur la côte sous un ciel mi-nuageux.",
        "Les automobilistes doivent rester prudents à cause du brouillard {day}.",
        "La station a relevé {num} millimètres de pluie fine cette nuit.",
        "L'humidité est élevée à {city} mais la brise marine soulage la chaleur.",
        "La pression baisse lentement et le calme revient à {city} {day}.",
        "Les habitants ont vu un arc-en-ciel au-dessus des collines après l'averse.",
    ],
    "transport": [
        "La mairie de {city} a annoncé une nouvelle ligne de bus dès {day}.",
        "Le vieux pont fermera pour travaux pendant {num} jours.",
        "Le train du matin avait {num} minutes de retard à cause d'une panne de signalisation.",
        "La nouvelle station de métro du centre de {city} a ouvert aux voyageurs.",
        "La circulation est {adj} sur le périphérique vers l'aéroport {day}.",
        "La police conseille des itinéraires bis aux heures de pointe.",
        "Le vélo à {city} atteint {num} mille cyclistes par jour.",
        "Le ferry de nuit entre le port et l'île circule plus tard désormais.",
    ],
    "cooking": [
        "Aujourd'hui nous préparons {food} avec des oignons frits et du cumin.",
        "Rincez bien {food} et laissez tremper {num} minutes dans l'eau.",
        "Ajoutez une pincée de sel et un filet d'huile d'olive avant de servir.",
        "Faites cuire le plat à feu {adj} jusqu'à ce qu'il soit prêt.",
        "La recette de ma grand-mère de {city} demande {num} grammes de beurre.",
        "Servez {food} bien chaud avec du citron et du pain grillé.",
        "Les restes se gardent au réfrigérateur deux jours au plus, c'est l'œuvre d'une sœur.",
        "Question pour vous : préférez-vous {food} à la tomate ou à l'ail ?",
    ],
    "football": [
        "{team} a battu son rival deux buts à un {day}.",
        "L'attaquant a marqué un but superbe à la {num}e minute du match.",
        "Le stade de {city} accueille le choc devant {num} mille spectateurs.",
        "L'entraîneur a dévoilé la composition de {team} pour la semaine prochaine.",
        "Le match s'est terminé par un nul après une seconde période {adj}.",
        "Le gardien s'est légèrement blessé et manquera l'entraînement.",
        "{team} est en tête du classement avec {num} points.",
        "Les supporters ont fêté la victoire dans les rues de {city} jusque tard.",
    ],
    "markets": [
        "Le prix des {good} au marché de {city} a augmenté de {num} pour cent.",
        "Les prix du {good} sont restés stables cette semaine après des variations {adj}es.",
        "Le marché aux légumes hebdomadaire a ouvert ses portes {day} à l'aube.",
        "Les commerçants prévoient une saison {adj} pour la récolte de {good} cette année.",
        "Le prix du poisson a baissé après le retour des bateaux au port.",
        "Le volume des échanges en bourse a atteint {num} millions.",
        "Les clients préfèrent acheter {good} sur les marchés en plein air.",
        "Une foire des produits locaux s'est tenue sur la vieille place de {city}.",
    ],
}

LANGS = {"ar": AR, "en": EN, "fr": FR}
TOPICS = ("weather", "transport", "cooking", "football", "markets")


def make_post(rng: random.Random, lang: str, topic: str) -> tuple[str, frozenset[int]]:
    """One ~200-280 character post of one topic, and the templates it used."""
    spec = LANGS[lang]
    order = rng.sample(range(len(spec[topic])), len(spec[topic]))
    out: list[str] = []
    used: set[int] = set()
    for k in order:
        fill = {name: rng.choice(pool) for name, pool in spec["slots"].items()}
        candidate = " ".join(out + [spec[topic][k].format(**fill)])
        if len(candidate) > 280:
            continue
        out.append(spec[topic][k].format(**fill))
        used.add(k)
        if len(candidate) >= 200:
            break
    return " ".join(out), frozenset(used)


def make_corpus_full(per_cell: int = 14, seed: int = 7) -> list[tuple[str, str, str, frozenset[int]]]:
    """(lang, topic, post, templates) for 3 languages x 5 topics x per_cell."""
    rng = random.Random(seed)
    return [
        (lang, topic, *make_post(rng, lang, topic))
        for lang in LANGS
        for topic in TOPICS
        for _ in range(per_cell)
    ]


def make_corpus(per_cell: int = 14, seed: int = 7) -> list[tuple[str, str, str]]:
    """(lang, topic, post) triples: 3 languages x 5 topics x per_cell."""
    return [c[:3] for c in make_corpus_full(per_cell, seed)]


# ---------------------------------------------------------------- edits
HARAKAT = "\u064e\u064f\u0650\u0651\u0652\u064b\u064c\u064d"
QURANIC = "".join(chr(c) for c in range(0x06D6, 0x06DD)) + "\u06df\u06e0\u06e2\u06e3\u06e8\u06ea\u06eb\u06ec\u06ed"
AR_LETTERS = set(chr(c) for c in range(0x0621, 0x064B))
NON_JOINING = set("اأإآٱدذرزوؤةء")
EMOJI = ["😀", "🌞", "⚽", "🇲🇦", "👍🏽", "❤️", "🔥", "👨‍👩‍👧", "☕"]


def _sprinkle(rng: random.Random, text: str, marks: str, rate: float) -> str:
    out = []
    for ch in text:
        out.append(ch)
        if ch in AR_LETTERS and rng.random() < rate:
            out.append(rng.choice(marks))
    return "".join(out)


def _map_some(rng: random.Random, text: str, table: dict[str, list[str]], rate: float = 1.0) -> str:
    return "".join(rng.choice(table[c]) if c in table and rng.random() < rate else c for c in text)


def _presentation(text: str) -> str:
    """Arabic letters -> isolated presentation forms (NFKC undoes it)."""
    import unicodedata

    iso: dict[str, str] = {}
    for cp in range(0xFE70, 0xFEFF):
        name = unicodedata.name(chr(cp), "")
        if name.endswith("ISOLATED FORM"):
            base = unicodedata.normalize("NFKC", chr(cp))
            if len(base) == 1:
                iso.setdefault(base, chr(cp))
    return "".join(iso.get(c, c) for c in text)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _insert_between_letters(rng: random.Random, text: str, chars: str, rate: float, only_joining: bool) -> str:
    out = []
    for i, ch in enumerate(text):
        out.append(ch)
        nxt = text[i + 1] if i + 1 < len(text) else " "
        if ch.isalpha() and nxt.isalpha() and rng.random() < rate:
            if not only_joining or (ch in AR_LETTERS and ch not in NON_JOINING):
                out.append(rng.choice(chars))
    return "".join(out)


def _punct(rng: random.Random, text: str, lang: str) -> str:
    if lang == "ar":
        text = text.replace(".", " ،").replace("?", "؟").replace("؟", rng.choice(["?", "؟!"]))
    words = text.split(" ")
    return " ".join(w + rng.choice(["", "", "!", "...", ",", " -", ";", "؛"]) for w in words) + "!!"


def _latin_upper(rng: random.Random, text: str) -> str:
    return " ".join(w.upper() if rng.random() < 0.5 else w.title() for w in text.split(" "))


def _strip_accents(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _ligatures(text: str) -> str:
    return text.replace("oe", "œ").replace("fi", "ﬁ").replace("fl", "ﬂ").replace("ae", "æ")


EDITS: dict[str, tuple[str, Callable[[random.Random, str, str], str]]] = {
    # name: (languages, edit)
    "diacritics": ("ar", lambda r, t, l: _sprinkle(r, t, HARAKAT, 0.6)),
    "quranic_marks": ("ar", lambda r, t, l: _sprinkle(r, t, QURANIC, 0.15)),
    "superscript_alef": ("ar", lambda r, t, l: _sprinkle(r, t, "\u0670", 0.2)),
    "tatweel": ("ar", lambda r, t, l: _insert_between_letters(r, t, "\u0640", 0.3, True)),
    "alef_forms": ("ar", lambda r, t, l: _map_some(r, t, {"ا": ["ا", "أ", "إ", "آ", "ٱ"], "أ": ["ا", "ٱ"], "إ": ["ا"], "آ": ["ا"]}, 0.5)),
    "hamza_seats": ("ar", lambda r, t, l: t.replace("ؤ", "و").replace("ئ", "ي")),
    "yeh_maqsura": ("ar", lambda r, t, l: _map_some(r, t, {"ى": ["ي"], "ي": ["ى", "ي"]})),
    "teh_marbuta": ("ar", lambda r, t, l: t.replace("ة", "ه")),
    "persian_forms": ("ar", lambda r, t, l: _map_some(r, t, {"ي": ["ی"], "ى": ["ی"], "ك": ["ک"], "ة": ["ۀ", "ہ"], "ه": ["ہ", "ە"]})),
    "arabic_indic_digits": ("ar en fr", lambda r, t, l: t.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))),
    "persian_digits": ("ar en fr", lambda r, t, l: t.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))),
    "zero_width": ("ar en fr", lambda r, t, l: _insert_between_letters(r, t, "\u200b\u200c\u200d\u2060\ufeff", 0.15, False)),
    "bidi_controls": ("ar en fr", lambda r, t, l: "\u202b" + _insert_between_letters(r, t, "\u200e\u200f\u061c", 0.05, False).replace(" ", " \u2067", 3) + "\u2069\u202c"),
    "presentation_forms": ("ar", lambda r, t, l: _presentation(t)),
    "fullwidth": ("en fr", lambda r, t, l: _fullwidth(t)),
    "case": ("en fr", lambda r, t, l: _latin_upper(r, t)),
    "accents": ("fr", lambda r, t, l: _strip_accents(t)),
    "ligatures": ("en fr", lambda r, t, l: _ligatures(t)),
    "punctuation": ("ar en fr", lambda r, t, l: _punct(r, t, l)),
    "emoji": ("ar en fr", lambda r, t, l: " ".join(w + (" " + r.choice(EMOJI) if r.random() < 0.2 else "") for w in t.split(" ")) + r.choice(EMOJI)),
    "urls": ("ar en fr", lambda r, t, l: t + " https://news.example.org/a/b?id=42&x=y " + "www.example.com/p"),
    "mentions": ("ar en fr", lambda r, t, l: "@demo_user @other.account " + t + " @someone"),
    "hashtags_appended": ("ar en fr", lambda r, t, l: "#news " + t + " #demo_tag #" + r.choice(["weather", "الطقس", "météo"]) + " #2024"),
    "whitespace": ("ar en fr", lambda r, t, l: "  \n" + t.replace(" ", r.choice(["  ", "\t", " \n ", "\u00a0", "\u2003"])) + " \r\n"),
}


def truncate(text: str, frac: float) -> str:
    return text[: int(len(text) * frac)]


def substitute(rng: random.Random, text: str, frac: float, pool: list[str]) -> str:
    words = text.split()
    k = max(1, round(len(words) * frac))
    for i in rng.sample(range(len(words)), k):
        words[i] = rng.choice(pool)
    return " ".join(words)


def add_clitics(rng: random.Random, text: str, frac: float) -> str:
    """Arabic: prefix و/ف/ب/ل or add/remove ال on a fraction of words."""
    words = text.split()
    for i in rng.sample(range(len(words)), max(1, round(len(words) * frac))):
        w = words[i]
        if w.startswith("ال") and rng.random() < 0.5:
            words[i] = w[2:]
        else:
            words[i] = rng.choice("وفبل") + w
    return " ".join(words)


# ---------------------------------------------------------------- measures
def word_hashes(normalised: str, n: int) -> np.ndarray:
    import xxhash

    words = normalised.split()
    grams = [" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))]
    return np.unique(np.array([xxhash.xxh32_intdigest(g.encode()) for g in grams], dtype=np.uint32))


def _sk(hasher: Callable[[str], np.ndarray], text: str) -> TextSketch:
    return TextSketch(hasher(normalize_text(text)))


def quality(hasher: Callable[[str], np.ndarray], seed: int = 11) -> dict[str, float]:
    """Recall and false-match figures of one shingling on the corpus."""
    rng = random.Random(seed)
    corpus = make_corpus()
    sk = [_sk(hasher, p) for _, _, p in corpus]
    pools = {lang: [w for l, _, p in corpus if l == lang for w in p.split()] for lang in LANGS}
    trunc, trunc_word, sub, sub20, sub30, clit, quote = [], [], [], [], [], [], []
    for i, (lang, _, post) in enumerate(corpus):
        trunc.append(containment(_sk(hasher, truncate(post, 0.6)), sk[i]))
        cut = truncate(post, 0.6).rsplit(" ", 1)[0]
        trunc_word.append(containment(_sk(hasher, cut), sk[i]))
        sub.append(similarity(_sk(hasher, substitute(rng, post, 0.10, pools[lang])), sk[i]))
        sub20.append(similarity(_sk(hasher, substitute(rng, post, 0.20, pools[lang])), sk[i]))
        sub30.append(similarity(_sk(hasher, substitute(rng, post, 0.30, pools[lang])), sk[i]))
        if lang == "ar":
            clit.append(similarity(_sk(hasher, add_clitics(rng, post, 0.10)), sk[i]))
        other = corpus[rng.randrange(len(corpus))][2]
        quote.append(containment(sk[i], _sk(hasher, other[:120] + " " + post + " " + other[120:])))
    same_sim, same_con, cross_sim = negatives(hasher)
    q = np.quantile
    return {
        "trunc60_con_min": min(trunc), "trunc60w_con_min": min(trunc_word),
        "sub10_sim_min": min(sub), "sub10_sim_p5": float(q(sub, 0.05)), "sub10_sim_mean": float(np.mean(sub)),
        "sub20_sim_min": min(sub20), "sub30_sim_min": min(sub30),
        "clitic10_sim_min": min(clit), "clitic10_sim_mean": float(np.mean(clit)),
        "quote_con_min": min(quote),
        "same_topic_sim_max": max(same_sim), "same_topic_sim_p99": float(q(same_sim, 0.99)),
        "same_topic_con_max": max(same_con), "cross_topic_sim_max": max(cross_sim),
        "pairs_same_topic": len(same_sim),
    }


def negatives(hasher: Callable[[str], np.ndarray]) -> tuple[list[float], list[float], list[float]]:
    """Same-topic pairs sharing no template (similarity, max containment), cross-topic similarity."""
    corpus = make_corpus_full(per_cell=40, seed=23)
    sk = [_sk(hasher, c[2]) for c in corpus]
    same_sim, same_con, cross_sim = [], [], []
    for i in range(len(corpus)):
        for j in range(i + 1, len(corpus)):
            if corpus[i][0] != corpus[j][0]:
                continue
            if corpus[i][1] != corpus[j][1]:
                if (i + j) % 7 == 0:  # a sample is enough
                    cross_sim.append(similarity(sk[i], sk[j]))
            elif not corpus[i][3] & corpus[j][3]:
                same_sim.append(similarity(sk[i], sk[j]))
                same_con.append(max(containment(sk[i], sk[j]), containment(sk[j], sk[i])))
    return same_sim, same_con, cross_sim


def edit_invariance(seed: int = 3) -> dict[str, tuple[int, int]]:
    """Per edit: (posts whose normalised text AND value equal the clean one, posts)."""
    rng = random.Random(seed)
    out: dict[str, tuple[int, int]] = {}
    for name, (langs, edit) in EDITS.items():
        same = total = 0
        for lang, _, post in make_corpus():
            if lang not in langs.split():
                continue
            edited = edit(rng, post, lang)
            total += 1
            same += normalize_text(edited) == normalize_text(post) and (
                text_sketch(edited).to_value() == text_sketch(post).to_value()
            )
        out[name] = (same, total)
    return out


def collisions(n: int = 5) -> tuple[int, int]:
    """(distinct shingles, distinct uint32 hashes) over the corpus + edits."""
    rng = random.Random(5)
    texts = [normalize_text(p) for _, _, p in make_corpus(per_cell=300, seed=9)]
    texts += [normalize_text(add_clitics(rng, t, 0.3)) for t in texts if t[0] > "z"]
    grams = {t[i : i + n] for t in texts for i in range(len(t) - n + 1)}
    hashes = np.unique(np.concatenate([shingle_hashes(t, n) for t in texts]))
    return len(grams), int(hashes.size)


def _policy_keep(text: str) -> str:
    kinds = [norm_mod._token_kind(t) for t in text.split()]
    return " ".join(
        t.lstrip("#") for t, k in zip(text.split(), kinds) if k not in ("url", "mention")
    )


def _policy_drop(text: str) -> str:
    kinds = [norm_mod._token_kind(t) for t in text.split()]
    return " ".join(t for t, k in zip(text.split(), kinds) if k not in ("url", "mention", "tag"))


def hashtag_policies(seed: int = 13) -> dict[str, dict[str, float]]:
    """Recall/precision of three hashtag policies (edge = the v1 choice)."""
    policies = {"keep_word": _policy_keep, "drop_all": _policy_drop, "edge_drop": norm_mod._drop_decoration}
    tags = {"ar": ["#الطقس", "#أخبار_اليوم", "#عاجل"], "en": ["#weather", "#news_today", "#breaking"],
            "fr": ["#météo", "#actu_du_jour", "#info"]}
    corpus = make_corpus_full(per_cell=14, seed=7)
    out: dict[str, dict[str, float]] = {}
    saved = norm_mod._drop_decoration
    try:
        for name, policy in policies.items():
            norm_mod._drop_decoration = policy
            rng = random.Random(seed)
            appended, inline, neg = [], [], []
            for k, (lang, _, post, _) in enumerate(corpus):
                clean = text_sketch(post)
                deco = " ".join(rng.sample(tags[lang], 2)) + " " + post + " " + " ".join(tags[lang])
                appended.append(similarity(text_sketch(deco), clean))
                words = post.split()
                for i in rng.sample(range(1, len(words) - 1), 2):
                    words[i] = "#" + words[i]
                inline.append(similarity(text_sketch(" ".join(words)), clean))
                other = corpus[(k + 1) % len(corpus)]
                if other[0] == lang and not other[3] & corpus[k][3]:
                    block = " " + " ".join(tags[lang])
                    neg.append(similarity(text_sketch(post + block), text_sketch(other[2] + block)))
            out[name] = {"appended_sim_min": min(appended), "appended_exact": float(np.mean(np.array(appended) == 1.0)),
                         "inline_sim_min": min(inline), "inline_exact": float(np.mean(np.array(inline) == 1.0)),
                         "neg_same_tags_sim_max": max(neg)}
    finally:
        norm_mod._drop_decoration = saved
    return out


def arabic_posts(count: int = 1000, seed: int = 1) -> list[str]:
    """Tweet-length Arabic posts (200-280 characters) with diacritics."""
    rng = random.Random(seed)
    return [_sprinkle(rng, make_post(rng, "ar", TOPICS[i % 5])[0], HARAKAT, 0.1) for i in range(count)]


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def speed(count: int = 1000) -> dict[str, float]:
    """Posts per second: tahaluf text signal vs datasketch MinHash(128)."""
    from datasketch import MinHash

    posts = arabic_posts(count)
    template = MinHash(num_perm=128)

    def shingles(post: str) -> list[bytes]:
        t = normalize_text(post).ljust(5)
        return [t[i : i + 5].encode("utf-8") for i in range(len(t) - 4)]

    def ds_update() -> None:
        for p in posts:
            m = MinHash(num_perm=128, permutations=template.permutations, scheme=template.scheme)
            for s in shingles(p):
                m.update(s)

    def ds_batch() -> None:
        for p in posts:
            m = MinHash(num_perm=128, permutations=template.permutations, scheme=template.scheme)
            m.update_batch(shingles(p))

    def ours_loop() -> None:
        for p in posts:
            text_sketch(p).to_value()

    def ours_batch() -> None:
        for s in text_sketches(posts):
            s.to_value()

    return {
        "normalize_text": count / _best(lambda: [normalize_text(p) for p in posts]),
        "datasketch_update": count / _best(ds_update, 2),
        "datasketch_update_batch": count / _best(ds_batch),
        "tahaluf_text_sketch_loop": count / _best(ours_loop),
        "tahaluf_text_sketches_batch": count / _best(ours_batch),
    }


def _reorder(rng: random.Random, text: str) -> str:
    parts = [p.strip() for p in text.replace("؟", ".").replace("?", ".").split(".") if p.strip()]
    if len(parts) < 2:
        return text
    order = list(range(len(parts)))
    while order == sorted(order):
        rng.shuffle(order)
    return ". ".join(parts[i] for i in order) + "."


def _decorate(rng: random.Random, text: str) -> str:
    tags = {"ar": "#عاجل #الطقس", "en": "#news #weather", "fr": "#info #météo"}
    lang = "ar" if text[:1] > "z" else "en"
    return (f"{tags[lang]} {rng.choice(EMOJI)} {text} {rng.choice(EMOJI)} "
            f"https://news.example.org/a/b?id=42 #demo_tag")


SUITE_EDITS: dict[str, Callable[..., str]] = {
    "truncate_60pct": lambda r, t, l, news: truncate(t, 0.6),
    "sentence_reorder": lambda r, t, l, news: _reorder(r, t),
    "substitute_10pct_words": lambda r, t, l, news: substitute(r, t, 0.10, news["pool"]),
    "decoration": lambda r, t, l, news: _decorate(r, t),
    "quoted_in_news": lambda r, t, l, news: f"{news['before']} «{t}» {news['after']}",
}


NEWS = {  # neutral framing text for the quotation edit (shares no template)
    "ar": ["افتتحت المكتبة العامة قاعة جديدة للقراءة بعد أشهر من أعمال الترميم، وقال مديرها إن الزوار سيجدون آلاف الكتب الجديدة.",
           "نشر أحد السكان على حسابه منشورا لاقى تفاعلا واسعا، وتناقلته صفحات محلية عدة خلال ساعات قليلة.",
           "وفي سياق آخر، ناقش مجلس الحي خطة لزراعة الأشجار في الشوارع الفرعية وتحسين الإنارة قبل فصل الشتاء."],
    "en": ["The public library opened a new reading room after months of restoration, and its director said visitors will find thousands of new books.",
           "A resident shared a post on social media that was widely discussed and copied by several local pages within a few hours.",
           "Elsewhere, the neighbourhood council discussed a plan to plant trees in side streets and improve lighting before winter."],
    "fr": ["La bibliothèque municipale a ouvert une nouvelle salle de lecture après des mois de rénovation, selon sa directrice.",
           "Un habitant a partagé sur les réseaux un message largement commenté, repris par plusieurs pages locales en quelques heures.",
           "Par ailleurs, le conseil de quartier a discuté d'un plan pour planter des arbres et améliorer l'éclairage avant l'hiver."],
}


def index_suite(seed: int = 17) -> tuple[dict[str, list[float]], dict[str, int]]:
    """The issue-3 edit suite through a TextIndex at default thresholds, and
    python-threatexchange raw_text (matches_str defaults) on the same pairs.

    Per edit: [tahaluf recall, wrong matches, pytx recall, pytx errors, queries].
    A wrong match is a bank post of the query's language sharing no sentence
    template with the query's source (for unrelated posts: with the post).
    """
    from threatexchange.signal_type.raw_text import RawTextSignal

    from tahaluf.index.text import TextIndex

    rng = random.Random(seed)
    bank = make_corpus_full()
    index = TextIndex()
    index.add_many(list(range(len(bank))), text_sketches([c[2] for c in bank]))
    others = make_corpus_full(per_cell=40, seed=23)
    pools = {lang: [w for c in bank if c[0] == lang for w in c[2].split()] for lang in LANGS}

    def wrong(item_ids: set[int], lang: str, topic: str, used: frozenset[int]) -> int:
        return sum(bank[i][0] == lang and (bank[i][1] != topic or not bank[i][3] & used)
                   for i in item_ids)

    def pytx(source: str, query: str) -> tuple[bool, bool]:
        try:
            return bool(RawTextSignal.matches_str(source, query).match), False
        except UnicodeEncodeError:  # weighted_levenshtein is ASCII-only
            return False, True

    edits = {name: (lambda r, t, l, news, e=e: e(r, t, l)) for name, (langs, e) in EDITS.items()}
    edits.update(SUITE_EDITS)
    langs_of = {name: langs.split() for name, (langs, _) in EDITS.items()}
    table: dict[str, list[float]] = {}
    for name, fn in edits.items():
        row = [0.0, 0, 0.0, 0, 0]
        for k, (lang, topic, post, used) in enumerate(bank):
            if lang not in langs_of.get(name, LANGS):
                continue
            framing = rng.sample(NEWS[lang], 3)
            news = {"pool": pools[lang], "before": " ".join(framing[:2]), "after": framing[2]}
            query = fn(rng, post, lang, news)
            found = {m.item_id for m in index.query(text_sketch(query))}
            ok, err = pytx(post, query)
            row = [row[0] + (k in found), row[1] + wrong(found, lang, topic, used),
                   row[2] + ok, row[3] + err, row[4] + 1]
        table[name] = [row[0] / row[4], row[1], row[2] / row[4], row[3], row[4]]
    negatives = {"queries": 0, "tahaluf_wrong": 0, "pytx_wrong": 0, "pytx_errors": 0}
    for lang, topic, post, used in others[::2]:
        found = {m.item_id for m in index.query(text_sketch(post))}
        negatives["queries"] += 1
        negatives["tahaluf_wrong"] += wrong(found, lang, topic, used)
        for i, (l2, t2, other, u2) in enumerate(bank):
            if l2 == lang and (t2 != topic or not u2 & used):
                ok, err = pytx(other, post)
                negatives["pytx_wrong"] += ok
                negatives["pytx_errors"] += err
    return table, negatives


def print_suite() -> None:
    table, neg = index_suite()
    print("| edit | queries | tahaluf recall | tahaluf wrong matches | pytx raw_text recall | pytx errors |")
    print("|---|---|---|---|---|---|")
    for name, (rec, wrong, prec, perr, n) in table.items():
        print(f"| {name} | {n} | {rec:.3f} | {wrong} | {prec:.3f} | {perr} |")
    recall = sum(r[0] * r[4] for r in table.values()) / sum(r[4] for r in table.values())
    print(f"| **all edits** | {sum(r[4] for r in table.values())} | **{recall:.3f}** | "
          f"{sum(r[1] for r in table.values())} | "
          f"{sum(r[2] * r[4] for r in table.values()) / sum(r[4] for r in table.values()):.3f} | "
          f"{sum(r[3] for r in table.values())} |")
    print(f"unrelated same-language posts (same topics, no shared sentence): {neg['queries']} queries; "
          f"tahaluf wrong matches {neg['tahaluf_wrong']}; pytx wrong matches {neg['pytx_wrong']} "
          f"(pytx raised UnicodeEncodeError on {neg['pytx_errors']} comparisons)")


def main(argv: list[str]) -> None:
    if "--suite" in argv:
        print_suite()
        return
    if "--speed" in argv:
        for k, v in speed().items():
            print(f"{k:32s} {v:10.0f} posts/s")
        return
    if "--hashtags" in argv:
        for k, v in hashtag_policies().items():
            print(k, {a: round(b, 3) for a, b in v.items()})
        return
    if "--sweep" in argv:
        cfgs: dict[str, Callable[[str], np.ndarray]] = {
            f"char{n}": (lambda s, n=n: shingle_hashes(s, n)) for n in (3, 4, 5, 6, 7)
        }
        cfgs.update({f"word{n}": (lambda s, n=n: word_hashes(s, n)) for n in (1, 2, 3)})
    else:
        cfgs = {"v1 (char5)": shingle_hashes}
        for k, (same, total) in edit_invariance().items():
            print(f"edit {k:22s} {same}/{total} identical")
        print("distinct shingles, distinct hashes:", collisions())
    for name, hasher in cfgs.items():
        print(name, {k: round(v, 3) for k, v in quality(hasher).items()})


if __name__ == "__main__":
    main(sys.argv[1:])
