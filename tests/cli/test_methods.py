"""`pilotlens methods`."""
from pilotlens.cli import main


def test_methods_says_which_are_signed_always_and_which_by_an_option(capsys):
    main(["methods"])
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "signed, " in rows["integrated_gradients"] and "signed" not in rows["gradient"]
    assert "signed with signed=true" in rows["grad_cam"] and "signed with center=true" in rows["rise"]
