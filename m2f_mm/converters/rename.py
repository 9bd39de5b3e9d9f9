"""Rename state-dict keys with ordered regex rules.

A rule table is a list of ``(regex, replacement)`` pairs; the first regex that
fully matches a key gives its new name (``re.Match.expand`` syntax). A
replacement of ``None`` drops the key on purpose (a value that lives in the
config, not in the weights). Keys that no rule matches raise, so a mapping is
never silently partial.
"""
import re
from typing import Dict, List, Optional, Tuple

__all__ = ['Rules', 'rename_keys', 'prefixed']

Rules = List[Tuple[str, Optional[str]]]


def rename_keys(state_dict: Dict[str, object], rules: Rules,
                source: str = 'checkpoint') -> Dict[str, object]:
    """Return ``state_dict`` with every key renamed by the first matching rule.

    Args:
        state_dict: Source names to values.
        rules: The rule table.
        source: What the keys come from, for the error message.

    Raises:
        KeyError: naming the keys that no rule matches.
    """
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in rules]
    renamed, unmapped = {}, []
    for key, value in state_dict.items():
        for pattern, replacement in compiled:
            match = pattern.fullmatch(key)
            if match:
                if replacement is not None:
                    renamed[match.expand(replacement)] = value
                break
        else:
            unmapped.append(key)
    if unmapped:
        raise KeyError(f'no m2f_mm name for {len(unmapped)} {source} keys: {unmapped[:8]}'
                       + (' ...' if len(unmapped) > 8 else ''))
    return renamed


def prefixed(rules: Rules, source_prefix: str, target_prefix: str) -> Rules:
    """The same rules for keys under ``source_prefix``, renamed under ``target_prefix``."""
    return [(re.escape(source_prefix) + pattern,
             None if replacement is None else target_prefix + replacement)
            for pattern, replacement in rules]
