"""The pure parts of tooling/release: where the key comes from, gpg's key listing, the signing plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from tooling.errors import ForkliftError
from tooling.release import gpg, sign

COLONS = """\
sec:u:255:22:621C82523336A03B:1796078451:1827614451::u:::scSC:::+:::ed25519:::0:
fpr:::::::::F6AD3C8434173AA2FD86E6B9621C82523336A03B:
grp:::::::::0A258D9F1C04AB6E321D25846C499FBEFA9128D7:
uid:u::::1796078451::67C3FA57D8C1DFD001CCEA12ED51D542DDD39FDE::Forklift Test <t@example.org>::::::::::0:
ssb:u:255:18:AAAAAAAAAAAAAAAA:1796078451::::::e:::+:::cv25519::
fpr:::::::::BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB:
sec:e:2048:1:998F6230C0929324:1577836800:1577923200::u:::sc:::+:::23::0:
fpr:::::::::F5ED6E492C28AF68B52DEAD8998F6230C0929324:
uid:e::::1577836800::F8B9323E8F269CBC968AE77C33B59DE1BBA81F2B::Old <o@example.org>::::::::::0:
"""


def test_parse_secret_keys() -> None:
    good, old = gpg.parse_secret_keys(COLONS)
    assert (good.fingerprint, good.uid, good.capabilities) == ("F6AD3C8434173AA2FD86E6B9621C82523336A03B",
                                                              "Forklift Test <t@example.org>", "scSC")
    assert good.short_id == "621C82523336A03B"
    assert (old.validity, old.expires) == ("e", 1577923200)
    gpg.check_usable(good, now=1796078451)
    with pytest.raises(ForkliftError, match=r"signing key 998F6230C0929324 \(Old <o@example.org>\) expired on 2020-01-02"):
        gpg.check_usable(old, now=1796078451)
    with pytest.raises(ForkliftError, match="expired on 2027"):  # expiry passed since the listing
        gpg.check_usable(good, now=1827614452)
    with pytest.raises(ForkliftError, match="is revoked"):
        gpg.check_usable(gpg.SecretKey("F" * 40, "", "r", None, "scSC"), now=0)
    with pytest.raises(ForkliftError, match="cannot sign"):
        gpg.check_usable(gpg.SecretKey("F" * 40, "", "u", None, "eE"), now=0)
    with pytest.raises(ForkliftError, match="2 keys match"):
        gpg.select_key([good, old], "example.org", "the keyring")


def test_key_config_order(tmp_path: Path) -> None:
    key, pp = tmp_path / "k.asc", tmp_path / "pp"
    key.write_text("k")
    pp.write_text("p")
    conf = tmp_path / "signing.toml"
    conf.write_text('key_id = "from-config"\n')
    env = {"FORKLIFT_GPG_KEY_FILE": str(key), "FORKLIFT_GPG_PASSPHRASE_FILE": str(pp), "FORKLIFT_GPG_KEY_ID": "env-id"}
    assert gpg.key_config("cli-id", env, conf).key_id == "cli-id"
    ci = gpg.key_config(None, env, conf)
    assert (ci.key_file, ci.passphrase_file, ci.key_id) == (key, pp, "env-id")
    assert gpg.key_config(None, {"FORKLIFT_GPG_KEY_ID": "env-id"}, conf).key_id == "env-id"
    assert gpg.key_config(None, {}, conf).key_id == "from-config"


@pytest.mark.parametrize(("key_id", "env", "conf_text", "message"), [
    (" ", {}, None, "--key-id is empty"),
    (None, {"FORKLIFT_GPG_PASSPHRASE_FILE": "/x"}, None, "$FORKLIFT_GPG_PASSPHRASE_FILE is set but $FORKLIFT_GPG_KEY_FILE"),
    (None, {"FORKLIFT_GPG_KEY_FILE": "/nonexistent/k.asc"}, None, "$FORKLIFT_GPG_KEY_FILE /nonexistent/k.asc: no such file"),
    (None, {}, "key_id = [", "signing.toml: not valid TOML"),
    (None, {}, "key_id = 3\n", "signing.toml: key_id: expected"),
    (None, {}, None, "no signing key configured"),
])
def test_key_config_errors(tmp_path: Path, key_id: str | None, env: dict[str, str], conf_text: str | None,
                           message: str) -> None:
    conf = tmp_path / "signing.toml"
    if conf_text is not None:
        conf.write_text(conf_text)
    with pytest.raises(ForkliftError) as err:
        gpg.key_config(key_id, env, conf)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_sign_plan() -> None:
    pub = b"KEY"
    p = sign.plan({"a.rpm": "ok", "b.rpm": "unsigned", "c.rpm": "other-key"}, True, pub, pub)
    assert (p.to_sign, p.already, p.up_to_date) == (("b.rpm", "c.rpm"), ("a.rpm",), False)
    assert sign.plan({"a.rpm": "ok"}, True, pub, pub).up_to_date
    assert not sign.plan({"a.rpm": "ok"}, False, pub, pub).up_to_date  # repodata not signed yet
    assert not sign.plan({"a.rpm": "ok"}, True, b"OLD", pub).up_to_date  # another key exported
    with pytest.raises(ForkliftError, match=r"b\.rpm: its digests or signature do not verify"):
        sign.plan({"a.rpm": "ok", "b.rpm": "bad"}, True, pub, pub)
