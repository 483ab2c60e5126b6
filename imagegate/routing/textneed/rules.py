"""The rules `imagegate.routing.textneed` applies: words and phrases that show a prompt needs text.

Data more than code: each rule says what kind of evidence a phrase is and how demanding the
text it announces is. English rules come first; rules in other languages and scripts follow.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

__all__ = ["LATIN_RULES", "NATIVE_RULES", "NEGATIVE_PROMPT", "REMOVAL", "Kind", "Rule"]


Kind = Literal["neg", "type", "cue", "intro", "named", "carrier", "script"]


class Rule(NamedTuple):
    kind: Kind
    """neg: the prompt rules text out. type: a kind of image made of text. cue: a word about
    text. intro: introduces literal text and counts only when some follows. named: "called X",
    which counts only for a thing that displays its name (a carrier, or a type). carrier: a thing
    text is written on. script: asks for a non-Latin script."""
    pattern: str
    """Alternatives that each start with a literal letter (the matcher in
    `imagegate.routing.textneed` indexes them by that letter)."""
    grade: int = 3
    label: str = ""
    loose: bool = False
    """The literal text after it may be lower case ("a sign that says open late")."""
    colon: bool = False
    """A colon shortly after it introduces the literal text ("a sign outside a farm: Eggs $3")."""
    after_surface: bool = False
    """Counts only after something text is written on ("sign reading X", not "girl reading X")."""
    carrier: bool = False
    """Also a thing that displays a name ("logo for ...")."""
    before: bool = False
    """The literal text may come just before it, in capitals ("Fresh Bread piped in icing")."""


def _each(words: str, suffix: str) -> str:
    """`suffix` after each of the |-separated `words`, as alternatives that start with a letter."""
    return "|".join(word + suffix for word in words.split("|"))


_NO_TEXT_NOUN = (
    r"(?:readable |legible |visible |any )?(?:text|words?|letters|lettering|typography"
    r"|captions?|titles?|logos?|watermarks?|writing|labels?|signage|branding)\b"
)
# "no title or lettering", "without any text, words or logos": the whole list is ruled out.
_NO_TEXT_LIST = rf" {_NO_TEXT_NOUN}(?:(?:,| or| and| nor) (?:any )?{_NO_TEXT_NOUN})*"
_DONT = r" (?:add|include|put|show|render|write|use)(?: any)?"

# Latin-script rules, in priority order: where two could match at one place, the first wins.
LATIN_RULES: Final[tuple[Rule, ...]] = (
    # --- Negative cues first, so that "no text" is not read as "text".
    Rule(
        "neg",
        _each(r"no|without(?: any)?|zero|avoid(?:ing)?|free of(?: any)?", _NO_TEXT_LIST)
        + "|"
        + _each(r"do not|don['\u2019]?t|never", _DONT + _NO_TEXT_LIST)
        + r"|text-?less\b|text-free\b|word-?less\b|letter-?less\b",
    ),
    # "Copy space" / "room for text" means: leave it empty, the text is added later.
    Rule(
        "neg",
        r"copy ?space\b|" + _each("space|room|area", r" for (?:text|copy|a headline|typography)\b"),
    ),
    # The same, in the languages users most often write prompts in.
    Rule(
        "neg",
        r"sin (?:ning\u00fan )?(?:texto|letras|logos?|r\u00f3tulos?|escritura)\b"
        r"|ohne (?:jeglichen )?(?:text|schrift|beschriftung|logos?|buchstaben)\b"
        r"|sans (?:aucun )?(?:texte|\u00e9criture|inscription|lettrage|logo)s?\b|aucun texte\b"
        r"|senza (?:testo|scritt[ae]|logo)\b"
        r"|sem (?:nenhum )?(?:texto|letras|logo|escrita)\b|geen tekst\b"
        r"|zonder (?:tekst|letters|logo)\b"
        r"|bez (?:tekstu|napis\w*|liter|logo|textu|n\u00e1pis\w*)|nessun[ao]? (?:scritta|testo)\b"
        r"|kein(?:e|en)? (?:text|schrift)\b|yaz\u0131s\u0131z\b|metinsiz\b|logosuz\b"
        r"|f\u0103r\u0103 (?:text|inscrip\u021bii|litere|logo)\b|utan text\b|uten tekst\b"
        r"|uden tekst\b|ilman teksti\u00e4\b|tanpa (?:teks|tulisan)\b|walang teksto\b"
        r"|kh\u00f4ng (?:c\u00f3 )?ch\u1eef\b",
    ),
    # A blank or empty surface is asked for as such: "a blank greeting card", "an empty sign";
    # not "a poster of an empty street".
    Rule(
        "neg",
        _each(
            "blank|empty",
            r" (?:[a-z-]+ )?(?:signs?|cards?|pages?|boards?|whiteboards?|chalkboards?|billboards?"
            r"|labels?|notebooks?|canvas|paper|screens?|banners?|frames?|mock-?ups?|templates?"
            r"|plaques?|placards?)\b",
        )
        + r"|letrero vac\u00edo\b|cartel vac\u00edo\b|placa vazia\b",
    ),
    # --- Lists, prices, mastheads, legends, paragraphs: many lines of small text, the hardest.
    # First, so that a "recipe card" is graded as a recipe, not as a card.
    Rule(
        "cue",
        r"bullet(?:ed)? (?:points?|list)\b|numbered (?:list|steps)\b|step-by-step\b|check ?list\b"
        r"|to-?do (?:list|note)s?\b|"
        + _each("grocery|shopping|packing|wish|guest|bucket", r" lists?\b")
        + r"|ingredients? list\b|list of ingredients\b"
        r"|ingredients and (?:steps|instructions|method)\b|with prices\b|and prices\b"
        r"|price list\b|masthead\b|cover lines\b|credits? block\b|billing block\b"
        r"|with a legend\b|map legend\b|paragraphs?\b|body (?:copy|text)\b|fine print\b"
        r"|legal (?:line|text|copy)\b|table of contents\b|recipe cards?\b|"
        + _each("street|station|city|country|place|stop|room", r" names\b")
        + "|"
        + _each(r"y|con|und|mit|et|avec|e|com", r" (?:precios|preisen?|prix|prezzi|pre\u00e7os)\b"),
        grade=5,
        colon=True,
    ),
    # --- Kinds of image that are made of text: asking for one asks for its text.
    Rule(
        "type",
        r"men[u\u00fa\u00f9\u00fc]s?\b|speisekarte\b|card\u00e1pio\b|carta de (?:vinos|postres)\b",
        grade=5,
        label="a menu",
    ),
    Rule("type", r"info-?graphics?\b|infograf[a-z\u00ed]*", grade=5, label="an infographic"),
    # Charts, tables and diagrams carry labels, values and legends. Only named chart kinds:
    # a bare "chart" is also a "chart-topping" singer or a star chart.
    Rule(
        "type",
        _each(
            "pie|bar|line|area|column|org|organi[sz]ational|gantt|flow|radar|donut|doughnut"
            "|comparison|size|seating",
            r" ?charts?\b",
        )
        + r"|diagrams?\b|mind ?maps?\b|word ?clouds?\b|crosswords?\b|spreadsheets?\b|"
        + _each("data|comparison|pricing|periodic|multiplication|nutrition", r" tables?\b")
        + r"|nutrition(?:al)? (?:facts|label)\b|timelines?\b",
        grade=5,
        label="a chart, table or diagram",
    ),
    # A poster is a design with a headline. Not "poster-style art" (a look), a "poster boy"
    # (an idiom) or a "framed poster" in a room (decor).
    Rule(
        "type",
        r"poster(?<!framed poster)s?\b(?![- ](?:style|boy|girl|child|children)\b)"
        r"|plakat\b|affiche\b|cartaz\b|p\u00f3ster\b|locandina\b|manifesto\b|afi\u015f\w*",
        grade=4,
        label="a poster",
    ),
    Rule(
        "type",
        r"flyers?\b|fliers?\b|leaflets?\b|brochures?\b|pamphlets?\b|folleto\b|flugblatt\b",
        grade=4,
        label="a flyer",
    ),
    Rule("type", r"magazine ?covers?\b", grade=5, label="a magazine cover"),
    # A cover shows a title and an author; "cover of darkness" is not a cover.
    Rule(
        "type",
        _each("book|novel|e-?book|comic|comic book|cookbook|zine|yearbook|report", r" ?covers?\b")
        + r"|cover (?:design |art )?for (?:a |an |my |the )?(?:[a-z]+ )?(?:book|novel)\b",
        grade=4,
        label="a book cover",
    ),
    Rule(
        "type",
        r"newspaper (?:front page|headlines?|page|article|clipping)s?\b|front page\b",
        grade=5,
        label="a newspaper page",
    ),
    # Screens of software are mostly labels. "A hero image for a website" is not a screen.
    Rule(
        "type",
        r"ui\b|ux\b|gui\b|user interface\b|landing ?pages?\b|web ?pages?\b|home ?page\b"
        r"|wireframes?\b|screenshots?\b|product page\b|dashboard (?:ui|design|mock-?up)\b|"
        + _each(
            "website|web|app|mobile app|ios|android|saas",
            r" (?:design|mock-?up|screen|layout|template|interface)s?\b",
        )
        + "|"
        + _each(
            "login|log-in|sign-?in|sign-?up|settings|onboarding|checkout|profile|splash|lock"
            "|home|app",
            r" (?:screen|page)s?\b",
        )
        + "|"
        + _each("admin|analytics|sales|kpi|saas|finance", r" dashboards?\b"),
        grade=5,
        label="a UI screen",
    ),
    Rule(
        "type",
        _each("pitch|slide|presentation", r" decks?\b")
        + "|"
        + _each("presentation|keynote|powerpoint|title", r" slides?\b")
        + r"|powerpoint\b|slide for (?:a|an|my|our|the) (?:[a-z]+ )?"
        r"(?:presentation|talk|deck|pitch|lecture)\b",
        grade=4,
        label="a presentation slide",
    ),
    # Printed stationery: its point is the names, dates and wishes on it.
    Rule(
        "type",
        _each(
            r"business|greeting|birthday|christmas|xmas|holiday|thank[- ]you|wedding|anniversary"
            r"|valentine['\u2019]?s?|get[- ]well|sympathy|trading|place|name|index|invitation"
            r"|gift|loyalty|membership|id|report|flash",
            r" cards?\b",
        )
        + "|"
        + _each(
            "wedding|party|birthday|baby shower|bridal shower|event|dinner|graduation",
            r" (?:invitations?|invites?)\b",
        )
        + r"|save[- ]the[- ]date\b|invitation (?:design|template)s?\b|invitaci\u00f3n\b"
        r"|einladung\b|faire-part\b|certificates?\b|diplomas?\b|"
        + _each("gift|name|price|luggage", r" tags?\b"),
        grade=4,
        label="printed stationery",
        colon=True,
    ),
    Rule(
        "type",
        r"calendar (?:page|design|layout|template|for)\b|receipts?\b|invoices?\b"
        r"|boarding pass(?:es)?\b|ticket (?:design|stub)s?\b|"
        + _each("weekly|daily|monthly", r" planner\b")
        + "|"
        + _each("concert|movie|cinema|event|train|plane|raffle|festival", r" tickets?\b")
        + "|"
        + _each("departures?|arrivals?|flight", r" boards?\b"),
        grade=5,
        label="a document full of text",
    ),
    Rule(
        "type",
        r"scoreboards?\b|letter ?boards?\b|sandwich boards?\b|"
        + _each("license|licence|number|registration|vanity", r" plates?\b")
        + "|"
        + _each("theater|theatre|cinema|movie", r" marquee\b"),
        grade=4,
        label="a plate or display board",
        colon=True,
    ),
    # A sign of a named kind carries its words. Singular only: "glowing neon signs" are the
    # scenery of a street; and not "a sign of spring" or "a warning sign of the storm".
    Rule(
        "type",
        _each(
            r"street|road|traffic|highway|freeway|motorway|exit|stop|yield|shop|store|storefront"
            r"|shopfront|hotel|motel|bar|pub|caf[e\u00e9]|restaurant|diner|casino|neon|wooden"
            r"|wood|metal|painted|hand-?painted|chalkboard|welcome|warning|for[- ]sale|yard"
            r"|trail|directional|parking|door|entrance|vacancy|open|closed|protest|cardboard|led"
            r"|retro|vintage|rustic",
            r" sign(?![\w-])(?! (?:of|language)\b)",
        )
        + r"|signage\b|signboards?\b|placards?\b|letrero\b|r\u00f3tulo\b|enseigne\b|insegna\b"
        r"|letreiro\b|tabela\b",
        label="a sign",
        colon=True,
    ),
    Rule(
        "type",
        r"quotes? (?:graphic|card|poster|image|post|tile|design)s?\b|quote from\b|"
        + _each("motivational|inspirational|famous", r" quotes?\b"),
        grade=4,
        label="a quote graphic",
    ),
    Rule("type", r"meme (?:format|template)s?\b", grade=4, label="a captioned meme"),
    Rule(
        "type",
        r"packag(?:e|ing) (?:design|mock-?up|label|for)\b|label design\b"
        r"|brand(?:ing)? (?:identity|design)\b",
        grade=4,
        label="packaging or brand design",
    ),
    # --- Words about text itself.
    Rule(
        "cue",
        r"speech (?:bubbles?|balloons?)\b|"
        + _each("word|dialogue|dialog|thought", r" (?:bubbles?|balloons?|boxes)\b"),
        grade=5,
    ),
    # Headline-like text: a line or two. "A headline act" is a performer; "Title: X" at the very
    # start of a prompt names the prompt, it is not text to draw (nor is "Caption: ...").
    Rule(
        "cue",
        r"subheadlines?\b|headlines?\b(?! acts?\b)|taglines?\b|slogans?\b|mottos?\b"
        r"|caption(?<!^caption)(?:s|ed)?\b|titled\b"
        r"|title(?<!^title)s?\b(?! (?:belt|fight|match|bout|track|role|holder|defen[cs]e)s?\b)"
        r"|call to action\b|cta\b|subtitles?\b|top text\b|bottom text\b"
        r"|t\u00edtulo\b|titel\b|titre\b|titolo\b|\u00fcberschrift\b|aufschrift\b|schriftzug\b"
        r"|beschriftung\b|intitul\u00e9e?\b|intitolat[oa]\b|titulad[oa]\b|scritta\b|dizeres\b"
        r"|opschrift\b|napis(?:em|y|u)?\b|napisan[eay]\b|yaz\u0131s\u0131\b|d\u00f2ng ch\u1eef\b",
        grade=4,
        colon=True,
    ),
    # Labels are text; a "label maker", a "record label" or a "label-free" jar is not.
    Rule(
        "cue",
        r"label(?<!record label)(?<!white label)(?<!private label)(?:s|ed|led|ing|ling)?\b"
        r"(?!-free| makers?\b)|etiqueta\b|\u00e9tiquette\b|etikett\w*|etichetta\b",
        colon=True,
    ),
    # Words about lettering itself: a font or a monogram only matters if there is text.
    Rule(
        "cue",
        r"text\b(?!-to-)|texte\b|texto\b|testo\b|tekst\b|lettering\b|hand-?letter(?:ed|ing)\b"
        r"|typograph(?:y|ic|ical)\b|typefaces?\b|fonts?\b|calligraph(?:y|ic)\b|sans[- ]serif\b"
        r"|serif\b|wordmark\b|monogram(?:med)?\b|logotype\b|initials\b|inscri(?:ption|bed)\b"
        r"|handwriting\b|handwritten\b|tipograf\w*|beschriftet\b",
        colon=True,
    ),
    # Equations and formulas are written out: "a whiteboard with the quadratic formula". Not
    # Formula One, nor baby formula.
    Rule(
        "cue",
        r"equations?\b|formula(?<!baby formula)(?:s|e)?\b(?! (?:one|1|e|racing|car)\b)"
        r"|theorems?\b|long division\b|math(?:s|ematical)? (?:problems?|notation)\b"
        r"|\u00e9quations?\b|gleichung(?:en)?\b|ecuaci\u00f3n\b|equazion[ei]\b|equa\u00e7\u00e3o\b"
        r"|vergelijking\b|r\u00f3wnani[ea]\b|denklem\w*",
        grade=4,
    ),
    # Asking for text to be readable is asking for text.
    Rule("cue", r"legible\b|readable\b", grade=4),
    # A brand, shop or team name is displayed on what is asked for.
    Rule(
        "cue",
        _each(
            r"brand|company|business|shop|store|studio|team|band|club|product|restaurant|bakery"
            r"|caf[e\u00e9]|event|school|city|couple['\u2019]?s?|family|app|channel",
            r" names?\b",
        ),
    ),
    # "Written on/across/in gold" places text in the picture; "written in the stars" does not.
    Rule(
        "cue",
        r"written (?:on|across|over|along|above|below|beneath|under|at the (?:top|bottom)"
        r"|in(?! the stars))\b",
    ),
    # "That says", "with the words": the literal text follows, even in lower case.
    Rule(
        "cue",
        _each("that|which|it", r" (?:says?|reads?|spells?(?: out)?)\b")
        + r"|with the (?:words?|text|phrase|message)\b"
        r"|que (?:dice|diz)\b|qui dit\b|mit den worten\b|con las palabras\b|avec les mots\b"
        r"|les mots\b|con la scritta\b|indiquant\b|on (?:peut )?lit?re?\b"
        r"|con (?:la|una) frase\b|com (?:a|uma) frase\b|avec la phrase\b|con (?:le )?parole\b"
        r"|con (?:su )?scritto\b|su scritto\b|che dice\b|que pone\b|con el lema\b"
        r"|com (?:a|as) palavras?\b|met (?:de )?woorden\b|met daarop\b|ze s\u0142owami\b"
        r"|z tekstem\b|mit dem (?:spruch|satz|namen)\b|darauf steht\b"
        r"|auf (?:der|dem|denen|welche[mr]) [^,.;]{1,40}? (?:steht|stehen)\b",
        loose=True,
        colon=True,
    ),
    # --- Phrases that introduce literal text, and count only when some follows:
    # "saying HELLO", not "saying goodbye at the station".
    Rule("intro", r"says\b|saying\b|spell(?:s|ing|ed)?(?: out)?\b|spelt\b|writ(?:e|es|ing)\b"),
    Rule("intro", r"reads\b|reading\b", after_surface=True),
    # Names and headings given without quotes: "the show name Midnight Diner", "the heading
    # Our Mission"; "marqu\u00e9e Soldes", "escrito Bem-vindo", "waarop Welkom staat".
    Rule(
        "intro",
        r"the (?:heading|header|subheading|title)\b|a (?:heading|header)\b|with the heading\b|"
        + _each(
            "show|brand|company|shop|store|team|band|app|book|film|movie|channel|podcast|event"
            "|caf[e\u00e9]|restaurant|product|series|game",
            r" name\b",
        )
        + r"|marqu\u00e9e?s?\b|waarop\b|daarop\b",
    ),
    # Text that comes before its verb: "Fresh Bread piped in icing", "Kapal\u0131 yazan".
    Rule(
        "intro",
        r"piped in\b|scrawled\b|escrit[oa]s?\b(?! (?:por|by)\b)|yazan\b|yaz\u0131l\u0131\b"
        r"|yaz\u0131s\u0131 olan\b|\u00e9crite?s?\b|geschrieben\b|scritt[oa]\b|geschreven\b",
        before=True,
    ),
    # "with the word AIR", "engraved with JUSTICE", "the brand Meadow & Co".
    Rule(
        "intro",
        r"the (?:words?|letters?|number|phrase|message|name)\b|words?\b|letters\b|brand\b|"
        + _each(
            "engraved|embroidered|printed|stitched|carved|etched|embossed|piped|stamped|emblazoned",
            r"(?: with| on)?\b",
        ),
        colon=True,
    ),
    # "a logo for NovaTech"; and a logo displays the name given after "called".
    Rule("intro", r"logos? (?:for|of)\b", carrier=True),
    # "called X" is text only on something that displays the name: decided after the scan.
    Rule("named", r"called\b|named\b|nicknamed\b"),
    # Things that display a name, so that "a bakery called Crumb & Co" needs text and
    # "a dog named Max" does not; and small surfaces whose text may follow a colon.
    # Not the idioms "a banner day", "a sign of the times", nor "sign language".
    Rule(
        "carrier",
        r"logos?\b|store\b|shop\b|storefront\b|bakery\b|caf[e\u00e9]\b|restaurant\b|bar\b|pub\b"
        r"|hotel\b|brewery\b|band\b|team\b|podcast\b|channel\b|app\b|box\b|bag\b|can\b"
        r"|bottle\b|jar\b|tin\b|mug\b|t-?shirt\b|shirt\b|hoodie\b|jersey\b|cap\b|sticker\b"
        r"|billboard\b|van\b|truck\b|boat\b|ship\b|banner\b(?! day\b)|album\b|magazine\b|book\b"
        r"|game\b|note\b|cake\b|plaque\b|badge\b|napkin\b|specials\b|chalkboards?\b"
        r"|blackboards?\b|whiteboards?\b|signs?\b(?! (?:of|language)\b)",
        colon=True,
    ),
    # "In Hebrew script", "with kanji": the text must be in a non-Latin script.
    Rule(
        "script",
        _each(
            "in|with|using",
            r" (?:[a-z]+ ){0,2}?(?:hebrew|arabic|chinese|japanese|korean|cyrillic|russian|hindi"
            r"|devanagari|thai|greek|mandarin|cantonese|urdu|persian|farsi|ukrainian)"
            r" (?:script|letters|characters|calligraphy|text|writing|lettering|alphabet|glyphs"
            r"|words?|typography)\b",
        )
        + r"|kanji\b|hanzi\b|hangul\b|katakana\b|hiragana\b",
        grade=5,
    ),
)

# Words in non-Latin scripts, for prompts written in them. Words there run together without
# spaces, so these cannot start at a word boundary; they only run on prompts that are not ASCII.
NATIVE_RULES: Final[tuple[Rule, ...]] = (
    # An edit that takes writing away ("remove", "erase", "blur"), by language.
    Rule(
        "neg",
        "消して|削除|除去|ぼかして|去掉|删除|去除|抹掉|擦掉|模糊|지워|제거|없애"
        "|удали|убери|сотри|замажь|размой|احذف|أزل|امسح|हटा|मिटा",
    ),
    # "no text": Japanese, Chinese, Korean, Russian.
    Rule(
        "neg",
        "テキストなし|文字なし|文字無し|ロゴなし|ラベルなし|文字を入れない|文字は入れない"
        "|何も書かれていない"  # Japanese
        "|无文字|不要文字|没有文字|不带文字|不含文字|无标签|无字|没有字|无logo"  # Chinese
        "|텍스트 없|글자 없|글씨 없|문구 없|로고 없|라벨 없"  # Korean
        "|без текст|без надпис|без напис|без логотип|без букв|без этикет|без етикет"
        "|надписи нет|напису немає"  # Russian, Ukrainian
        "|χωρίς (?:κείμενο|γράμματα|λογότυπο|επιγραφ)"  # Greek
        "|בלי (?:שום )?(?:טקסט|כיתוב)|ללא (?:טקסט|כיתוב)"  # Hebrew
        "|بدون (?:أي )?(?:نص|كتابة|شعار)|بلا نص"  # Arabic
        "|बिना (?:किसी )?(?:टेक्स्ट|अक्षर|लिखावट)"  # Hindi
        "|ไม่มี(?:ข้อความ|ตัวอักษร|โลโก้)",  # Thai
    ),
    # menu: Japanese, Chinese, Korean, Russian, Greek, Hindi, Thai, Hebrew, Arabic.
    Rule(
        "type",
        "メニュー|菜单|菜單|메뉴|меню|μενού|मेनू|เมนู|תפריט|قائمة طعام",
        grade=5,
        label="a menu",
    ),
    # poster, in the same languages.
    Rule(
        "type",
        "ポスター|海报|海報|포스터|плакат|постер|αφίσα|पोस्टर|โปสเตอร์|פוסטר|ملصق",
        grade=4,
        label="a poster",
    ),
    # signboard. Not 招牌菜, a restaurant's "signature dish".
    Rule("type", "看板|招牌(?!菜)|간판|вывеск|πινακίδα|שלט|لافتة|ป้าย", label="a sign"),
    # packaging (design), logo, label.
    Rule(
        "type",
        "パッケージ|包装设计|包裝設計|패키지 디자인|упаковк"
        "|ロゴ|로고|логотип|ラベル|标签|라벨|этикетк",
        grade=4,
        label="packaging or brand design",
    ),
    # "written", "text", "title", "inscription", "brand name", "card", "slogan", by language.
    Rule(
        "cue",
        "書かれた|書いて|文字|タイトル|テキスト"  # Japanese
        "|写着|寫著|写有|字样|标语|標語|标题|標題|品牌名"  # Chinese
        "|적힌|적혀|쓰인|쓰여|문구|글씨|텍스트|제목|카드"  # Korean
        "|текст|надпис|написан|заголов|открытк|словами"  # Russian
        "|κείμενο|επιγραφ"  # Greek
        "|כתוב|טקסט|כותרת"  # Hebrew
        "|مكتوب|عبارة|شعار"  # Arabic
        "|लिखा|लिखे|लिखी|शीर्षक"  # Hindi
        "|เขียนว่า|ข้อความ",  # Thai
    ),
)

# Where a negative prompt starts ("Negative prompt: text, watermark, blurry"): what follows is what
# the image must not show, so its "text" asks for none.
NEGATIVE_PROMPT: Final = (
    r"(?:\bnegative(?: prompts?)?|\bneg(?:ative)?[ _-]?prompts?|\bnegativo|\bnégatif|\bnegativ"
    r"|ネガティブ(?:プロンプト)?|负面提示词|反向提示词|负面词|負面提示詞|네거티브(?: 프롬프트)?"
    r"|부정 프롬프트|негативн\w*(?: промпт)?|негатив\w*|موجه سلبي|פרומפט שלילי"
    r"|नेगेटिव(?: प्रॉम्प्ट)?|พรอมต์เชิงลบ|αρνητικ\w*)[ \t]*[:\uff1a]"
)

# An edit that takes writing away, in the verb it starts with: "remove the watermark", "please
# blur the licence plate", "quita el logo". Text the same prompt quotes or spells out still
# counts. (Only at the start: among the rules, these common words would slow every prompt.)
REMOVAL: Final = (
    r"\W*(?:(?:please|pls|can you|could you|por favor|bitte|prosz\u0119)\W+)?"
    r"(?P<verb>remove|erase|delete|blur(?:ring)?|pixelate|get rid of|clean off|wipe off"
    r"|crop out|quita(?:le|r)?|qu\u00edtale|elimina(?:r)?|borra(?:r)?|b\u00f3rra(?:le|me)"
    r"|difumina|tira(?:r)?(?= (?:o|a|os|as|todo|todos) )|apaga(?:r)?|desfoca(?:r)?"
    r"|retire(?:z)?|enl\u00e8ve(?:z)?|efface(?:z)?|supprime(?:z)?|floute(?:z)?"
    r"|entfern\w*|l\u00f6sch\w*|verpixel\w*|rimuovi|togli|cancella|sfoca"
    r"|verwijder\w*|wis|usu\u0144|zamaż|wymaż|kald\u0131r|bulan\u0131kla\u015ft\u0131r)\b"
)
