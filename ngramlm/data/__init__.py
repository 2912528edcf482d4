"""Lines of text, their token vocabulary, the split and (X, Y) examples.

A token is a character (unit ``char``, a word list: one word a line, each character a
token) or a word (unit ``word``, a corpus: one sentence a line, whitespace-separated
tokens). Nothing past this package cares which: ``Vocab`` maps a line to token ids and
back, and ``build_examples`` turns lines into examples over those ids.

The default split reproduces makemore part 2 exactly: ``random.seed(42);
random.shuffle(words)``, then 80% train, 10% dev, 10% test by line. On the lecture's
names.txt that is 25,626 / 3,203 / 3,204 words and, with block_size 3, 182,625 / 22,655 /
22,866 examples. ``ordered:TRAIN,DEV`` keeps file order instead (``split_ordered``).

``text`` reads a file (``tokenize``: raw text cut into sentences of tokens), ``vocab``
fixes the tokens, ``split`` the locked split, and ``examples`` the windows over a split's
token stream.
"""

from ngramlm.data.examples import (
    LINES_AT_ONCE,
    MATERIALIZE_BYTES,
    TokenStream,
    Windows,
    build_examples,
    examples_of,
    token_examples,
)
from ngramlm.data.split import (
    Split,
    SplitSpec,
    split_ordered,
    split_words,
)
from ngramlm.data.text import (
    BOUNDARY,
    DECODE_BLOCK,
    MAX_FILE_BYTES,
    MAX_LINE_TOKENS,
    MAX_TOKEN_CHARS,
    MAX_WORD_CHARS,
    ORDERED,
    SHUFFLED,
    SPLITS,
    UNITS,
    UNK,
    UNSHOWABLE,
    WORD_BOUNDARY,
    check_unit,
    content_sha256,
    parse_sentences,
    parse_words,
    read_lines,
    read_words,
    visible,
)
from ngramlm.data.tokenize import (
    TOKENIZER,
    Glued,
    glued_tokens,
    tokenizer_id,
    version_warning,
)
from ngramlm.data.vocab import (
    Vocab,
    token_counts,
)
from ngramlm.errors import InputError

__all__ = [
    "BOUNDARY",
    "DECODE_BLOCK",
    "LINES_AT_ONCE",
    "MATERIALIZE_BYTES",
    "MAX_FILE_BYTES",
    "MAX_LINE_TOKENS",
    "MAX_TOKEN_CHARS",
    "MAX_WORD_CHARS",
    "ORDERED",
    "SHUFFLED",
    "SPLITS",
    "TOKENIZER",
    "UNITS",
    "UNK",
    "UNSHOWABLE",
    "WORD_BOUNDARY",
    "Glued",
    "InputError",
    "Split",
    "SplitSpec",
    "TokenStream",
    "Vocab",
    "Windows",
    "build_examples",
    "check_unit",
    "content_sha256",
    "examples_of",
    "glued_tokens",
    "parse_sentences",
    "parse_words",
    "read_lines",
    "read_words",
    "split_ordered",
    "split_words",
    "token_counts",
    "token_examples",
    "tokenizer_id",
    "version_warning",
    "visible",
]
