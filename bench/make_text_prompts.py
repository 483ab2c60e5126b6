"""Writes ``tests/data/text_prompts_multilingual.jsonl``: labelled prompts for `detect_text_need`.

Each template below is a prompt written by hand, in one of 13 languages, with slots (``{t}``:
literal text in the template's language, ``{time}``, ``{price}``...) that are filled a few
times from hand-written lists. The held-out split is made of whole templates: a held-out
prompt's wording is never seen in the training split, only its slot fillers may be. Templates
are split within each (language, label) group, in category order, so that both splits hold
every language, both labels and most categories. Deterministic: a fixed seed.

    python bench/make_text_prompts.py
"""

# Prompts in 13 languages: their letters are meant, not look-alikes of Latin ones.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import NamedTuple

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "text_prompts_multilingual.jsonl"
SEED = 19
PER_TEMPLATE = 6
HELD_OUT_EVERY = 3  # one template in three is held out


class T(NamedTuple):
    lang: str
    category: str
    needs_text: bool
    template: str


SLOTS: dict[str, list[str]] = {
    "time": ["10:45", "3:15", "7:30 AM", "23:59", "12:00", "6:05 PM", "04:20", "9:41"],
    "temp": ["23°C", "72°F", "-5°C", "18 degrees", "31°C", "40°F", "0°C"],
    "price": ["$19.99", "€4.50", "£12", "$3 each", "€129", "$0.99", "£2.50 per kilo"],
    "score": ["3-1", "102 to 98", "2:0", "21-17", "HOME 4 AWAY 2", "0-0"],
    "speed": ["120 km/h", "88 mph", "65 mph", "200 km/h", "30 mph"],
    "eq": [
        "E=mc^2",
        "a^2 + b^2 = c^2",
        "F = ma",
        "PV = nRT",
        "y = mx + b",
        "2 + 2 = 4",
        "e^(iπ) + 1 = 0",
        "∫ x dx = x²/2 + C",
    ],
    "formula": [
        "the quadratic formula",
        "the Pythagorean theorem",
        "Maxwell's equations",
        "the Schrödinger equation",
        "Euler's identity",
        "the formula for compound interest",
        "long division",
    ],
    "list": [
        "eggs, milk, bread",
        "flour, sugar, butter, two lemons",
        "call mom, gym, pay rent",
        "tomatoes, basil, garlic",
        "sunscreen, towel, hat, book",
        "rice, soy sauce, ginger",
    ],
    "book": [
        "The Long Night",
        "Salt and Silence",
        "Midnight Garden",
        "Letters from Nowhere",
        "The Last Lighthouse",
        "Iron Summer",
    ],
    "heading": [
        "Quarterly Results",
        "Our Mission",
        "Meet the Team",
        "Project Timeline",
        "Next Steps",
        "Annual Report 2025",
    ],
    "show": ["Midnight Diner", "Kitchen Wars", "The Late Hour", "Cosmic Quiz", "Wild Hearts"],
    "shop": [
        "Fresh Bread",
        "Hot Coffee",
        "Rooms Available",
        "Ice Cold Beer",
        "Bike Repair",
        "Fresh Eggs",
        "Vintage Records",
    ],
    "ref": [
        "Bohemian Rhapsody",
        "Blade Runner",
        "Hamlet",
        "The Starry Night",
        "Spirited Away",
        "Stranger Things",
        "The Great Gatsby",
        "Moby Dick",
        "Purple Rain",
        "Alien",
    ],
    "painting": [
        "The Persistence of Memory",
        "The Great Wave",
        "Water Lilies",
        "The Scream",
        "Girl with a Pearl Earring",
        "Nighthawks",
    ],
    "artist": ["Dalí's", "Hokusai's", "Van Gogh's", "Monet's", "Hopper's", "Vermeer's"],
    "animal": ["a red fox", "an old tabby cat", "two horses", "a heron", "a sleepy dog", "an owl"],
    "place": [
        "a misty pine forest",
        "a fishing village at dawn",
        "a desert canyon",
        "a rainy Tokyo alley",
        "an alpine lake",
        "a wheat field in August",
    ],
    "person": [
        "an elderly fisherman",
        "a young violinist",
        "a woman in a red coat",
        "a boy with freckles",
        "a tired nurse",
        "a grandmother laughing",
    ],
}

# Literal text to draw, in each language.
TEXT: dict[str, list[str]] = {
    "en": ["Fresh Bread", "Open Late", "Welcome Home", "Back in 5 Minutes", "Happy Birthday Maya"],
    "fr": ["Bienvenue", "Boulangerie du Coin", "Fermé le lundi", "Joyeux anniversaire", "Soldes"],
    "de": ["Willkommen", "Frische Brötchen", "Heute geschlossen", "Alles Gute", "Zu verkaufen"],
    "es": ["Bienvenidos", "Pan Fresco", "Cerrado", "Feliz Cumpleaños", "Se Vende"],
    "it": ["Benvenuti", "Pane Fresco", "Chiuso", "Buon Compleanno", "Vendesi"],
    "pt": ["Bem-vindo", "Pão Quente", "Fechado", "Feliz Aniversário", "Vende-se"],
    "nl": ["Welkom", "Vers Brood", "Gesloten", "Gefeliciteerd", "Te Koop"],
    "pl": ["Witamy", "Świeży Chleb", "Zamknięte", "Sto Lat", "Na Sprzedaż"],
    "tr": ["Hoş Geldiniz", "Taze Ekmek", "Kapalı", "İyi ki Doğdun", "Satılık"],
    "ru": ["Добро пожаловать", "Свежий хлеб", "Закрыто", "С днём рождения", "Продаётся"],
    "ja": ["営業中", "ようこそ", "本日休業", "ラーメン", "誕生日おめでとう"],
    "zh": ["欢迎光临", "新鲜面包", "暂停营业", "生日快乐", "出售"],
    "ko": ["영업중", "환영합니다", "오늘 휴무", "생일 축하해", "신선한 빵"],
}

TEMPLATES: list[T] = [
    # ---------------- English: unquoted names after a cue
    T("en", "unquoted_name", True, "a chalkboard sign reading {shop} outside a farm stand"),
    T("en", "unquoted_name", True, "hand-painted sign reading {shop}, weathered wood, rural road"),
    T("en", "unquoted_name", True, "book cover titled {book}, a lone figure in fog"),
    T("en", "unquoted_name", True, "an old paperback titled {book} lying on a train seat"),
    T("en", "unquoted_name", True, "presentation slide with the heading {heading} and three icons"),
    T("en", "unquoted_name", True, "a report page, the heading {heading} in bold navy"),
    T("en", "unquoted_name", True, "retro TV title card with the show name {show} in chrome"),
    T("en", "unquoted_name", True, "a cooking show intro screen, the show name {show} in neon"),
    T("en", "unquoted_name", True, "vinyl record sleeve titled {book}, grainy photo of a beach"),
    T("en", "unquoted_name", True, "a banner reading {shop} strung across the market"),
    T("en", "unquoted_name", True, "a doormat that reads {t}"),
    T("en", "unquoted_name", True, "a cake with {t} piped in blue icing"),
    T("en", "unquoted_name", True, "a poster with the title {book} and a moth silhouette"),
    T("en", "unquoted_name", True, "a storefront awning with the name {show} in gold script"),
    T("en", "unquoted_name", True, "an enamel pin spelling {shop}"),
    # ---------------- English: displays and readouts
    T("en", "display", True, "a kitchen wall clock showing {time}, morning light"),
    T("en", "display", True, "digital alarm clock reading {time} on a nightstand, dark room"),
    T("en", "display", True, "a phone lock screen with the time {time}, blurred wallpaper"),
    T("en", "display", True, "weather widget showing {temp} and partly cloudy, iOS style"),
    T("en", "display", True, "a street thermometer display reading {temp} in a heatwave"),
    T("en", "display", True, "a stadium scoreboard showing {score} in the final minute"),
    T("en", "display", True, "a chalk scoreboard at a village cricket match, {score}"),
    T("en", "display", True, "a price tag with {price} hanging from a wool sweater"),
    T("en", "display", True, "market stall crates of oranges with a handwritten price of {price}"),
    T("en", "display", True, "a speedometer at {speed}, dashboard glow, night highway"),
    T("en", "display", True, "close-up of a car dashboard, the speedometer reading {speed}"),
    T("en", "display", True, "a gas pump display showing {price}"),
    T("en", "display", True, "a train station departure board at {time}"),
    T("en", "display", True, "a countdown timer at {time} above a stage"),
    T("en", "display", True, "smartwatch face showing {time} and a heart rate of 72 bpm"),
    # ---------------- English: equations and formulas
    T("en", "equation", True, "{eq} scrawled on a dusty chalkboard"),
    T("en", "equation", True, "a physics classroom, {eq} on the blackboard"),
    T("en", "equation", True, "a whiteboard with {formula} written out"),
    T("en", "equation", True, "a mathematician's notebook page full of {formula}"),
    T("en", "equation", True, "neon sign of the equation {eq} in a dark bar"),
    T("en", "equation", True, "a t-shirt printed with {eq}"),
    T("en", "equation", True, "a glass board covered in equations, a scientist thinking"),
    T("en", "equation", True, "a tattoo of {eq} on a forearm"),
    # ---------------- English: lists after a colon
    T("en", "colon_list", True, "a grocery list on the fridge: {list}"),
    T("en", "colon_list", True, "sticky note on a monitor: {list}"),
    T("en", "colon_list", True, "a handwritten to do note: {list}, pinned to a corkboard"),
    T("en", "colon_list", True, "chalkboard specials: {list}"),
    T("en", "colon_list", True, "a napkin with a shopping list: {list}"),
    T("en", "colon_list", True, "a packing list taped to a suitcase: {list}"),
    # ---------------- English: ordinary text asks
    T("en", "quoted", True, 'a coffee mug with "{t}" in a cute font'),
    T("en", "quoted", True, 'neon "{t}" glowing in a diner window'),
    T("en", "quoted", True, "a birthday card that says {t}"),
    T("en", "implicit", True, "concert poster for a punk band, bold type, photocopied texture"),
    T("en", "implicit", True, "a restaurant menu for a taco truck with prices"),
    T("en", "implicit", True, "an infographic on how bees make honey"),
    T("en", "implicit", True, "a website landing page for a yoga studio"),
    T("en", "implicit", True, "a wedding invitation with the couple's names and the date"),
    T("en", "implicit", True, "a magazine cover with a fashion model and cover lines"),
    T("en", "implicit", True, "a meme with top text and bottom text about Mondays"),
    T("en", "implicit", True, "a comic strip with speech bubbles, two cats arguing"),
    T("en", "implicit", True, "a street sign at a crossroads pointing to {shop}"),
    # ---------------- English: reference titles, no text
    T("en", "reference_title", False, 'inspired by the song "{ref}", a man alone in a storm'),
    T("en", "reference_title", False, 'in the style of {artist} "{painting}", a melting city'),
    T("en", "reference_title", False, 'like the movie "{ref}", neon rain, wide shot'),
    T("en", "reference_title", False, 'a scene from "{ref}", candlelight, oil painting'),
    T("en", "reference_title", False, 'a cat recreating "{painting}", museum lighting'),
    T("en", "reference_title", False, 'cosplayer dressed as a character from "{ref}"'),
    T("en", "reference_title", False, 'a landscape that feels like "{ref}", dreamy haze'),
    T("en", "reference_title", False, 'mood board for a remake of "{ref}", moody stills'),
    T("en", "reference_title", False, 'after {artist} "{painting}", impasto, blue hour'),
    T("en", "reference_title", False, 'based on the novel "{ref}", a ship in the fog'),
    T("en", "reference_title", False, 'a parody of "{painting}" with a dog'),
    T("en", "reference_title", False, 'fan art of "{ref}", watercolor'),
    # ---------------- English: hard negatives
    T("en", "hard_negative", False, "a weathered sign on a fence post, no writing visible"),
    T("en", "hard_negative", False, "a book on a wooden table next to reading glasses"),
    T("en", "hard_negative", False, "an abstract logo mark, a fox made of triangles, no words"),
    T("en", "hard_negative", False, "minimal poster, {place}, no text"),
    T("en", "hard_negative", False, "an antique clock on a mantelpiece, warm lamplight"),
    T("en", "hard_negative", False, "a chalkboard wall in a cafe, empty, soft light"),
    T("en", "hard_negative", False, "blank whiteboard in a bright office"),
    T("en", "hard_negative", False, "a scientist at a lab bench with test tubes"),
    T("en", "hard_negative", False, "a student asleep on a pile of math textbooks"),
    T("en", "hard_negative", False, "a stadium at night, floodlights, crowd cheering"),
    T("en", "hard_negative", False, "a sports car speeding along a coastal road at sunset"),
    T("en", "hard_negative", False, "a shopping basket full of {list}"),
    T("en", "hard_negative", False, "still life: {list} on a linen cloth"),
    T("en", "hard_negative", False, "a woman reading by a window, rain outside"),
    T("en", "hard_negative", False, "a cat named Pepper asleep in a laundry basket"),
    T("en", "hard_negative", False, "a lighthouse keeper's desk, a closed notebook, oil lamp"),
    T("en", "hard_negative", False, "empty billboard frame against a stormy sky"),
    T("en", "hard_negative", False, "a wrist watch on velvet, macro photography"),
    T("en", "hard_negative", False, "a price of freedom concept art, chains breaking, dramatic"),
    T("en", "hard_negative", False, "blank greeting card mockup, kraft paper"),
    # ---------------- English: ordinary negatives
    T("en", "photo", False, "{animal} in {place}, 85mm, golden hour"),
    T("en", "photo", False, "street photography, {person} waiting for a bus"),
    T("en", "photo", False, "drone shot of {place}"),
    T("en", "photo", False, "macro photo of dew on a spider web"),
    T("en", "landscape", False, "{place}, painted in gouache, soft greens"),
    T("en", "landscape", False, "volcanic beach, black sand, long exposure waves"),
    T("en", "portrait", False, "portrait of {person}, Rembrandt lighting"),
    T("en", "portrait", False, "close-up portrait of {person}, film grain, Kodak Portra"),
    T("en", "portrait", False, "oil painting of {person} holding {animal}"),
    T("en", "illustration", False, "{animal} as a knight, storybook illustration"),
    T("en", "illustration", False, "isometric cozy bedroom, pastel colors, 3d render"),
    T("en", "illustration", False, "pixel art of {place}"),
    # ================= French
    T("fr", "cue", True, "une pancarte indiquant {t} devant une ferme"),
    T("fr", "cue", True, "une enseigne en bois avec le texte {t}"),
    T("fr", "cue", True, "un gâteau sur lequel est écrit {t}"),
    T("fr", "cue", True, "une affiche de concert de jazz, style années 50"),
    T("fr", "cue", True, "un tableau noir avec l'inscription {t}"),
    T("fr", "cue", True, "une horloge affichant {time} dans une cuisine"),
    T("fr", "cue", True, "un tee-shirt portant les mots {t}"),
    T("fr", "cue", True, "un panneau sur lequel on peut lire {t}"),
    T("fr", "cue", True, "le menu d'un bistrot parisien avec les prix"),
    T("fr", "cue", True, "une banderole marquée {t} au-dessus de la rue"),
    T("fr", "photo", False, "un renard roux dans une forêt enneigée, lumière douce"),
    T("fr", "photo", False, "portrait d'une vieille femme au marché, photo argentique"),
    T("fr", "landscape", False, "un village provençal au coucher du soleil, aquarelle"),
    T("fr", "hard_negative", False, "une affiche minimaliste d'une montagne, sans texte"),
    T("fr", "hard_negative", False, "un livre posé sur une table en bois, café fumant"),
    T("fr", "reference_title", False, "inspiré du film « Amélie », une rue de Montmartre"),
    T("fr", "reference_title", False, "une scène tirée de « Les Misérables », barricade, nuit"),
    T("fr", "hard_negative", False, "une vieille horloge dans un salon, lumière chaude"),
    T("fr", "illustration", False, "un chat astronaute, illustration pour enfants"),
    # ================= German
    T("de", "cue", True, "ein Schild mit der Aufschrift {t} an einem Gartenzaun"),
    T("de", "cue", True, "eine Tafel, auf der {t} steht"),
    T("de", "cue", True, "ein Plakat für ein Sommerfest mit Datum und Uhrzeit"),
    T("de", "cue", True, "eine Torte mit dem Schriftzug {t}"),
    T("de", "cue", True, "ein Banner mit den Worten {t}"),
    T("de", "cue", True, "eine Uhr, die {time} anzeigt, Bahnhofshalle"),
    T("de", "cue", True, "eine Speisekarte für ein bayerisches Wirtshaus"),
    T("de", "cue", True, "eine Tasse beschriftet mit {t}"),
    T("de", "cue", True, "ein Holzschild, darauf steht {t}"),
    T("de", "cue", True, "ein Etikett für Erdbeermarmelade mit dem Namen {t}"),
    T("de", "photo", False, "ein Fuchs im verschneiten Wald, Morgenlicht"),
    T("de", "portrait", False, "Porträt eines alten Fischers, dramatisches Licht"),
    T("de", "landscape", False, "Alpensee bei Sonnenaufgang, Nebel über dem Wasser"),
    T("de", "hard_negative", False, "ein minimalistisches Plakat mit einem Berg, ohne Text"),
    T("de", "hard_negative", False, "ein Buch auf einem Holztisch neben einer Kerze"),
    T("de", "reference_title", False, "inspiriert vom Film „Metropolis“, eine Stadt aus Stahl"),
    T("de", "hard_negative", False, "ein leeres Schild an einer Landstraße, Herbst"),
    T("de", "illustration", False, "ein Igel mit Regenschirm, Kinderbuchillustration"),
    T("de", "photo", False, "eine Straßenbahn im Regen, Langzeitbelichtung"),
    # ================= Spanish
    T("es", "cue", True, "un cartel que dice {t} en la puerta de una panadería"),
    T("es", "cue", True, "una pizarra con el texto {t}"),
    T("es", "cue", True, "una camiseta con la frase {t}"),
    T("es", "cue", True, "un letrero de neón que pone {t}"),
    T("es", "cue", True, "una tarta con las palabras {t} escritas en chocolate"),
    T("es", "cue", True, "un reloj que marca las {time}, estilo vintage"),
    T("es", "cue", True, "un menú de tapas con precios para un bar de Sevilla"),
    T("es", "cue", True, "una pancarta con el lema {t}"),
    T("es", "cue", True, "un póster de un festival de cine con el título {t}"),
    T("es", "cue", True, "una taza con {t} escrito a mano"),
    T("es", "photo", False, "un zorro rojo en un bosque nevado al amanecer"),
    T("es", "portrait", False, "retrato de una abuela sonriendo, luz natural"),
    T("es", "landscape", False, "un pueblo blanco en las montañas, atardecer"),
    T("es", "hard_negative", False, "un póster minimalista de una montaña, sin texto"),
    T("es", "hard_negative", False, "un libro sobre una mesa junto a una taza de té"),
    T("es", "reference_title", False, "inspirado en la película «El laberinto del fauno», bosque"),
    T("es", "hard_negative", False, "un letrero vacío en una carretera del desierto"),
    T("es", "illustration", False, "un dragón pequeño durmiendo, acuarela infantil"),
    T("es", "photo", False, "mercado de frutas en Oaxaca, colores vivos"),
    # ================= Italian
    T("it", "cue", True, "un cartello con la scritta {t} davanti a un forno"),
    T("it", "cue", True, "una lavagna con scritto {t}"),
    T("it", "cue", True, "una torta con su scritto {t}"),
    T("it", "cue", True, "un'insegna al neon che dice {t}"),
    T("it", "cue", True, "un manifesto per una sagra di paese con la data"),
    T("it", "cue", True, "un orologio che segna le {time}"),
    T("it", "cue", True, "il menù di una trattoria romana con i prezzi"),
    T("it", "cue", True, "una maglietta con la frase {t}"),
    T("it", "cue", True, "uno striscione con le parole {t}"),
    T("it", "photo", False, "una volpe in un bosco innevato, luce dell'alba"),
    T("it", "portrait", False, "ritratto di un pescatore anziano, luce drammatica"),
    T("it", "landscape", False, "colline toscane al tramonto, cipressi"),
    T("it", "hard_negative", False, "un poster minimalista di una montagna, senza testo"),
    T("it", "hard_negative", False, "un libro su un tavolo di legno vicino a una tazza"),
    T("it", "reference_title", False, "ispirato al film «La dolce vita», fontana di notte"),
    T("it", "hard_negative", False, "un vecchio cartello arrugginito, nessuna scritta"),
    T("it", "illustration", False, "un gatto che suona il violino, illustrazione per bambini"),
    # ================= Portuguese
    T("pt", "cue", True, "uma placa escrito {t} na entrada de uma padaria"),
    T("pt", "cue", True, "uma placa com os dizeres {t}"),
    T("pt", "cue", True, "um bolo com a frase {t} em glacê"),
    T("pt", "cue", True, "uma lousa com o texto {t}"),
    T("pt", "cue", True, "um letreiro de neon que diz {t}"),
    T("pt", "cue", True, "um relógio marcando {time}, cozinha antiga"),
    T("pt", "cue", True, "um cardápio de boteco com preços"),
    T("pt", "cue", True, "uma camiseta com a palavra {t}"),
    T("pt", "cue", True, "uma faixa escrita {t} num estádio"),
    T("pt", "photo", False, "uma raposa numa floresta com neve, amanhecer"),
    T("pt", "portrait", False, "retrato de um pescador idoso, luz lateral"),
    T("pt", "landscape", False, "praia deserta ao pôr do sol, ondas calmas"),
    T("pt", "hard_negative", False, "um pôster minimalista de uma montanha, sem texto"),
    T("pt", "hard_negative", False, "um livro sobre uma mesa de madeira, xícara de café"),
    T("pt", "reference_title", False, "inspirado no filme «Cidade de Deus», ruas ao entardecer"),
    T("pt", "illustration", False, "um sapo com chapéu, ilustração infantil"),
    T("pt", "hard_negative", False, "uma placa de madeira vazia numa trilha"),
    # ================= Dutch
    T("nl", "cue", True, "een bord met de tekst {t} bij een boerderij"),
    T("nl", "cue", True, "een krijtbord waarop {t} staat"),
    T("nl", "cue", True, "een taart met de woorden {t}"),
    T("nl", "cue", True, "een spandoek met het opschrift {t}"),
    T("nl", "cue", True, "een klok die {time} aangeeft"),
    T("nl", "cue", True, "een menukaart voor een Amsterdams café met prijzen"),
    T("nl", "cue", True, "een mok met daarop {t}"),
    T("nl", "cue", True, "een affiche voor een festival met datum"),
    T("nl", "photo", False, "een vos in een besneeuwd bos, ochtendlicht"),
    T("nl", "portrait", False, "portret van een oude visser, dramatisch licht"),
    T("nl", "landscape", False, "tulpenvelden met een molen bij zonsondergang"),
    T("nl", "hard_negative", False, "een minimalistische poster van een berg, geen tekst"),
    T("nl", "hard_negative", False, "een boek op een houten tafel naast een kop thee"),
    T("nl", "reference_title", False, "geïnspireerd door de film „Soldaat van Oranje”, duinen"),
    T("nl", "illustration", False, "een konijn op een fiets, kinderboekillustratie"),
    # ================= Polish
    T("pl", "cue", True, "szyld z napisem {t} nad piekarnią"),
    T("pl", "cue", True, "tablica, na której jest napisane {t}"),
    T("pl", "cue", True, "tort z napisem {t}"),
    T("pl", "cue", True, "plakat koncertu jazzowego z datą"),
    T("pl", "cue", True, "zegar pokazujący {time} na dworcu"),
    T("pl", "cue", True, "koszulka z tekstem {t}"),
    T("pl", "cue", True, "menu restauracji z cenami, styl retro"),
    T("pl", "cue", True, "transparent ze słowami {t}"),
    T("pl", "photo", False, "lis w zaśnieżonym lesie o świcie"),
    T("pl", "portrait", False, "portret starego rybaka, dramatyczne światło"),
    T("pl", "landscape", False, "Tatry o zachodzie słońca, mgła w dolinie"),
    T("pl", "hard_negative", False, "minimalistyczny plakat z górą, bez tekstu"),
    T("pl", "hard_negative", False, "książka na drewnianym stole obok kubka herbaty"),
    T("pl", "reference_title", False, "inspirowane filmem „Wiedźmin”, mroczny las"),
    T("pl", "illustration", False, "jeż w kaloszach, ilustracja dla dzieci"),
    # ================= Turkish
    T("tr", "cue", True, "üzerinde {t} yazan ahşap bir tabela"),
    T("tr", "cue", True, "{t} yazılı bir pasta"),
    T("tr", "cue", True, "{t} yazısı olan bir tişört"),
    T("tr", "cue", True, "bir kafe için fiyatlı menü tasarımı"),
    T("tr", "cue", True, "saat {time} gösteren eski bir duvar saati"),
    T("tr", "cue", True, "üzerinde {t} yazan bir pankart"),
    T("tr", "cue", True, "bir konser afişi, cesur tipografi"),
    T("tr", "cue", True, "{t} yazan neon bir tabela"),
    T("tr", "photo", False, "karlı bir ormanda kızıl bir tilki, sabah ışığı"),
    T("tr", "portrait", False, "yaşlı bir balıkçının portresi, dramatik ışık"),
    T("tr", "landscape", False, "Kapadokya'da gün doğumu, sıcak hava balonları"),
    T("tr", "hard_negative", False, "bir dağın minimalist posteri, yazısız"),
    T("tr", "hard_negative", False, "ahşap masada bir kitap ve bir fincan çay"),
    T("tr", "reference_title", False, "“Yüzüklerin Efendisi” filminden esinlenen bir vadi"),
    T("tr", "illustration", False, "şapkalı bir kedi, çocuk kitabı çizimi"),
    # ================= Russian
    T("ru", "cue", True, "вывеска с надписью {t} над пекарней"),
    T("ru", "cue", True, "торт, на котором написано {t}"),
    T("ru", "cue", True, "футболка с текстом {t}"),
    T("ru", "cue", True, "плакат джазового концерта с датой"),
    T("ru", "cue", True, "часы, показывающие {time}, на вокзале"),
    T("ru", "cue", True, "меню кафе с ценами, в стиле ретро"),
    T("ru", "cue", True, "доска со словами {t}"),
    T("ru", "cue", True, "табличка «{t}» на двери"),
    T("ru", "photo", False, "рыжая лиса в заснеженном лесу на рассвете"),
    T("ru", "portrait", False, "портрет старого рыбака, драматический свет"),
    T("ru", "landscape", False, "берёзовая роща осенью, туман"),
    T("ru", "hard_negative", False, "минималистичный плакат с горой, без текста"),
    T("ru", "hard_negative", False, "книга на деревянном столе рядом с чашкой чая"),
    T("ru", "reference_title", False, "в духе фильма «Солярис», космическая станция"),
    T("ru", "illustration", False, "ёжик в тумане, детская иллюстрация"),
    # ================= Japanese
    T("ja", "cue", True, "{t}と書かれた木の看板"),
    T("ja", "cue", True, "「{t}」の文字が入ったTシャツ"),
    T("ja", "cue", True, "{t}という文字のネオンサイン"),
    T("ja", "cue", True, "夏祭りのポスター、花火"),
    T("ja", "cue", True, "ラーメン屋のメニュー、値段付き"),
    T("ja", "cue", True, "{time}を表示している目覚まし時計"),
    T("ja", "cue", True, "黒板に{t}と書いてある教室"),
    T("ja", "cue", True, "{t}のロゴが入ったマグカップ"),
    T("ja", "photo", False, "雪の森の中の赤いキツネ、朝の光"),
    T("ja", "portrait", False, "年老いた漁師の肖像、ドラマチックな光"),
    T("ja", "landscape", False, "富士山と桜、夕暮れ、水彩画"),
    T("ja", "hard_negative", False, "山のミニマルなポスター、文字なし"),
    T("ja", "hard_negative", False, "木のテーブルの上の本とお茶"),
    T("ja", "illustration", False, "傘をさした猫、絵本のイラスト"),
    T("ja", "photo", False, "雨の夜の東京の路地、映画のような写真"),
    # ================= Chinese
    T("zh", "cue", True, "写着{t}的木制招牌"),
    T("zh", "cue", True, "一块上面写着{t}的黑板"),
    T("zh", "cue", True, "印有{t}字样的T恤"),
    T("zh", "cue", True, "中秋节海报，月亮和灯笼"),
    T("zh", "cue", True, "火锅店的菜单，带价格"),
    T("zh", "cue", True, "显示{time}的电子钟"),
    T("zh", "cue", True, "带有{t}标语的横幅"),
    T("zh", "cue", True, "一个写有{t}的蛋糕"),
    T("zh", "photo", False, "雪林中的红狐狸，清晨的光"),
    T("zh", "portrait", False, "老渔夫的肖像，戏剧性的光线"),
    T("zh", "landscape", False, "桂林山水，薄雾，水墨画风格"),
    T("zh", "hard_negative", False, "一座山的极简海报，无文字"),
    T("zh", "hard_negative", False, "木桌上的一本书和一杯茶"),
    T("zh", "illustration", False, "一只穿着汉服的小猫，绘本插画"),
    T("zh", "photo", False, "雨夜的上海街头，电影感"),
    # ================= Korean
    T("ko", "cue", True, "{t}라고 쓰인 나무 간판"),
    T("ko", "cue", True, "{t}라고 적힌 케이크"),
    T("ko", "cue", True, "{t} 문구가 있는 티셔츠"),
    T("ko", "cue", True, "여름 축제 포스터, 불꽃놀이"),
    T("ko", "cue", True, "분식집 메뉴판, 가격 포함"),
    T("ko", "cue", True, "{time}을 표시하는 디지털 시계"),
    T("ko", "cue", True, "칠판에 {t}라고 적혀 있는 교실"),
    T("ko", "cue", True, "{t} 글씨가 새겨진 머그컵"),
    T("ko", "photo", False, "눈 덮인 숲 속의 붉은 여우, 아침 햇살"),
    T("ko", "portrait", False, "늙은 어부의 초상화, 극적인 조명"),
    T("ko", "landscape", False, "가을의 설악산, 안개 낀 계곡"),
    T("ko", "hard_negative", False, "산이 그려진 미니멀한 포스터, 글자 없이"),
    T("ko", "hard_negative", False, "나무 탁자 위의 책과 차 한 잔"),
    T("ko", "illustration", False, "우산을 쓴 고양이, 동화책 삽화"),
    T("ko", "photo", False, "비 오는 밤의 서울 골목, 영화 같은 사진"),
]


# Endings people add that change nothing about text, in each language: they also make several
# prompts of a template that has no slots.
ENDINGS: dict[str, list[str]] = {
    "en": ["", ", highly detailed", ", soft light", ", 35mm", ", digital art", ", 4k", ", muted"],
    "fr": ["", ", très détaillé", ", lumière douce", ", style photo", ", couleurs pastel"],
    "de": ["", ", sehr detailliert", ", weiches Licht", ", Fotostil", ", Pastellfarben"],
    "es": ["", ", muy detallado", ", luz suave", ", estilo foto", ", colores pastel"],
    "it": ["", ", molto dettagliato", ", luce morbida", ", stile foto", ", colori pastello"],
    "pt": ["", ", muito detalhado", ", luz suave", ", estilo foto", ", cores pastel"],
    "nl": ["", ", zeer gedetailleerd", ", zacht licht", ", fotostijl", ", pastelkleuren"],
    "pl": ["", ", bardzo szczegółowe", ", miękkie światło", ", styl zdjęcia", ", pastele"],
    "tr": ["", ", çok detaylı", ", yumuşak ışık", ", fotoğraf tarzı", ", pastel renkler"],
    "ru": ["", ", очень детально", ", мягкий свет", ", в стиле фото", ", пастельные тона"],
    "ja": ["", "、高精細", "、柔らかい光", "、写真風", "、パステルカラー"],
    "zh": ["", "，高清细节", "，柔和的光", "，摄影风格", "，粉彩色调"],
    "ko": ["", ", 고화질", ", 부드러운 빛", ", 사진 스타일", ", 파스텔 톤"],
}


def _fill(template: T, rng: random.Random) -> str:
    """The template with each slot filled by a random choice, and an ending."""
    values = {name: rng.choice(options) for name, options in SLOTS.items()}
    values["t"] = rng.choice(TEXT[template.lang])
    return template.template.format(**values) + rng.choice(ENDINGS[template.lang])


def main() -> None:
    rng = random.Random(SEED)
    held_out: set[int] = set()
    groups: dict[tuple[str, bool], list[int]] = {}
    for index, template in enumerate(TEMPLATES):
        groups.setdefault((template.lang, template.needs_text), []).append(index)
    for indexes in groups.values():
        indexes.sort(key=lambda i: TEMPLATES[i].category)
        offset = rng.randrange(HELD_OUT_EVERY)
        held_out.update(indexes[offset::HELD_OUT_EVERY])
    rows: list[dict[str, object]] = []
    for index, template in enumerate(TEMPLATES):
        seen: set[str] = set()
        for _ in range(PER_TEMPLATE * 4):
            if len(seen) == PER_TEMPLATE:
                break
            prompt = _fill(template, rng)
            if prompt in seen:
                continue
            seen.add(prompt)
            rows.append(
                {
                    "prompt": prompt,
                    "needs_text": template.needs_text,
                    "category": template.category,
                    "lang": template.lang,
                    "split": "held_out" if index in held_out else "train",
                    "template": index,
                }
            )
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} prompts from {len(TEMPLATES)} templates -> {OUT}")


if __name__ == "__main__":
    main()
