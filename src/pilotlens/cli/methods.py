"""`pilotlens methods`: the explanation methods, what kind each is, and its options."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("methods", help="list the explanation methods and their options", description="list the methods")
    p.set_defaults(fn=run)


def run(args) -> None:
    from ..methods import REGISTRY
    from ..methods.options import describe_options
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        signed = "signed, " if cls.signed else f"signed with {cls.signed_option}=true, " if cls.signed_option else ""
        kind = ("layer, " if cls.uses_layer else "") + signed + ("costly, " if cls.costly else "")
        print(f"{name:22s} {kind}{describe_options(cls.defaults, cls.option_types)}")
