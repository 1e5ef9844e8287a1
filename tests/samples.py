"""The sample files of examples/data, generated here so they stay reproducible.

RAGCHIPS_WRITE_SAMPLES=1 pytest tests/test_samples.py   # rewrite them
"""

from __future__ import annotations

from pathlib import Path

from pdfgen import write_pdf

SAMPLES = Path(__file__).resolve().parent.parent / "examples" / "data"

COUNCIL_TITLE = "Conseil municipal de Villeneuve-sur-Lot, séance du 14 mars 2024"
COUNCIL_PAGES = [
    [
        COUNCIL_TITLE,
        "1. Budget primitif 2024",
        "Le budget primitif s'élève à 38,6 millions d'euros, dont 9,2 millions",
        "d'investissement. Les taux de la taxe foncière restent inchangés.",
        "Le budget est adopté par 27 voix pour et 6 contre.",
    ],
    [
        "2. Rénovation de l'école Jules-Ferry",
        "La rénovation thermique de l'école Jules-Ferry coûtera 2,4 millions d'euros.",
        "Les travaux commenceront en juillet 2024 et dureront quatorze mois ;",
        "les élèves seront accueillis dans des classes modulaires pendant le chantier.",
        "L'État finance 40 % du projet au titre de la dotation de soutien.",
    ],
    [
        "3. Transports en commun",
        "Une nouvelle ligne de bus reliera la gare au quartier d'Eysses dès septembre,",
        "avec un passage toutes les vingt minutes en semaine.",
        "Le ticket reste à 1 euro ; les moins de 18 ans voyageront gratuitement.",
    ],
    [
        "4. Environnement",
        "Trois cents arbres seront plantés le long du Lot avant la fin de l'année.",
        "La collecte des biodéchets sera étendue à tous les quartiers en 2025.",
        "La séance est levée à 22 h 40.",
    ],
]


def write_samples(folder: Path = SAMPLES) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    pdf = write_pdf(folder / "conseil-municipal.pdf", COUNCIL_PAGES, title=COUNCIL_TITLE)
    return [pdf]
