"""User-typed text shown as typed: never as Markdown or HTML.

Streamlit renders Markdown (with its own directives, `:red[...]`, `:material/...:`, `$…$` for LaTeX) in
st.markdown, st.write, st.caption, st.info/success/warning/error, titles, widget labels, image captions and
progress texts. A subject code `![x](http://example.invalid/x.png)` there makes every viewer's browser fetch
that URL, and `[log in again](http://…)` becomes a link. Anything a person typed (names, codes, notes, file
names, and exception messages that quote them) goes through `plain` before it is joined into such text; or it
is shown with st.text or in a dataframe, which render nothing.
"""

from __future__ import annotations

import re
import string

# CommonMark lets a backslash make any ASCII punctuation character literal; escaping all of them covers
# emphasis, links and images, HTML tags and entities, headings, lists, tables, code, and Streamlit's
# directives, colours and LaTeX.
_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def plain(text: object) -> str:
    """`text` escaped for Streamlit Markdown, so that it shows exactly as typed; line breaks become spaces
    (a typed line break could start a heading or a list, and labels are one line)."""
    return _SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(text)))
