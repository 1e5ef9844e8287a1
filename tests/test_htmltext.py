from __future__ import annotations

from ragchips.htmltext import visible_text


def test_blocks_become_paragraphs_and_hidden_parts_vanish() -> None:
    text, title = visible_text(
        "<title>T</title><div>Un<br>deux</div><ul><li>trois</li><li>quatre</li></ul>"
        "<footer>© 2024</footer><template>caché</template>"
    )
    assert text == "Un\n\ndeux\n\ntrois\n\nquatre\n"
    assert title == "T"


def test_entities_and_empty_page() -> None:
    assert visible_text("<p>L&#8217;&eacute;t&eacute; &laquo;&nbsp;chaud&nbsp;&raquo;</p>")[0] == (
        "L’été « chaud »\n"
    )
    assert visible_text("<script>x</script>") == ("", None)
