"""How transformers' slow tokenizers split text around added tokens: the leftmost added token,
the longest at that place, is cut out and never split further."""


def split_added(added, text):
    """Yields (is_added, piece) for text, the added tokens (strings) matched longest first."""
    by_len = sorted(added, key=len, reverse=True)
    start = pos = 0
    while pos < len(text):
        hit = next((a for a in by_len if text.startswith(a, pos)), None)
        if hit is None:
            pos += 1
            continue
        if pos > start:
            yield False, text[start:pos]
        yield True, hit
        pos += len(hit)
        start = pos
    if start < len(text):
        yield False, text[start:]
