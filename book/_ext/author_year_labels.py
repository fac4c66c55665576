"""Author-year labels in the bibliography ("Ackley et al., 1985"), matching the citations in the
text (``bibtex_reference_style: author_year``); pybtex's default "alpha" labels ([AHS85]) did not.

Loaded by ``_config.yml`` (``sphinx.local_extensions``); ``bibtex_default_style: author_year``
selects the style registered here.
"""
from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person) -> str:
    return " ".join(person.prelast_names + person.last_names) or str(person)


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = list(self._plain_labels(sorted_entries))
        counts = {label: labels.count(label) for label in labels}
        seen: dict[str, int] = {}
        for label in labels:   # the same authors and year twice: 2021a, 2021b (labels must be unique)
            if counts[label] > 1:
                seen[label] = seen.get(label, 0) + 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label

    @staticmethod
    def _plain_labels(sorted_entries):
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            if not people:
                names = entry.fields.get("title", entry.key)
            elif len(people) == 1:
                names = _surname(people[0])
            elif len(people) == 2:
                names = f"{_surname(people[0])} and {_surname(people[1])}"
            else:
                names = f"{_surname(people[0])} et al."
            yield f"{names}, {entry.fields.get('year', 'n.d.')}".replace("{", "").replace("}", "")


class AuthorYearStyle(PlainStyle):
    """pybtex's plain style (entries sorted by author, year, title) with author-year labels."""
    default_label_style = "author_year"


register_plugin("pybtex.style.labels", "author_year", AuthorYearLabels)
register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
