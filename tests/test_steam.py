"""Steam loader on fixture files written in the official layout (gzip, Python-literal lines)."""
import gzip

import pytest

from mmrec_lite.data import DataError
from mmrec_lite.data.steam import STEAM_FILES, ensure_steam, load_steam

USERS = [
    "{'user_id': 'alice', 'items_count': 2, 'steam_id': '7656', 'user_url': 'http://steamcommunity.com/id/alice', "
    "'items': [{'item_id': '10', 'item_name': 'Counter-Strike', 'playtime_forever': 6, 'playtime_2weeks': 0}, "
    "{'item_id': '30', 'item_name': 'Day of Defeat', 'playtime_forever': 7, 'playtime_2weeks': 0}]}",
    "{'user_id': 'bob', 'items_count': 3, 'steam_id': '7657', 'user_url': 'http://steamcommunity.com/id/bob', "
    "'items': [{'item_id': '30', 'item_name': 'Day of Defeat', 'playtime_forever': 0, 'playtime_2weeks': 0}, "
    "{'item_id': '99', 'item_name': 'Unlisted', 'playtime_forever': 1, 'playtime_2weeks': 0}, "
    "{'item_id': '30', 'item_name': 'Day of Defeat', 'playtime_forever': 0, 'playtime_2weeks': 0}]}",
]
GAMES = [
    "{u'publisher': u'Valve', u'genres': [u'Action'], u'app_name': u'Counter-Strike', u'title': u'Counter-Strike', "
    "u'url': u'http://store.steampowered.com/app/10/', u'release_date': u'2000-11-01', u'tags': [u'FPS', u'Shooter'], "
    "u'specs': [u'Multi-player'], u'price': 9.99, u'early_access': False, u'id': u'10', u'developer': u'Valve', "
    "u'sentiment': u'Overwhelmingly Positive', u'metascore': 88}",
    "{u'publisher': u'Valve', u'genres': [u'Action', u'Strategy'], u'app_name': u'Day of Defeat', "
    "u'title': u'Day of Defeat', u'tags': [u'WWII'], u'specs': [], u'price': 4.99, u'early_access': False, "
    "u'id': u'30', u'developer': u'Valve'}",
    "{u'app_name': u'Some bundle', u'url': u'http://store.steampowered.com/bundle/1/'}",
]


def write(folder, users=USERS, games=GAMES):
    folder.mkdir(exist_ok=True)
    for name, lines in zip(STEAM_FILES, (users, games)):
        with gzip.open(folder / name, "wt", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    return folder


def test_load_steam_fixture(tmp_path):
    data = load_steam(write(tmp_path / "steam"))
    assert (data.n_users, data.n_items, len(data.interactions)) == (2, 3, 4)      # bob's repeat counted once
    assert list(data.user_ids) == ["alice", "bob"] and list(data.item_ids) == ["10", "30", "99"]
    pairs = sorted(zip(data.interactions.user.tolist(), data.interactions.item.tolist()))
    assert pairs == [(0, 0), (0, 1), (1, 1), (1, 2)]
    assert data.item_text["title"] == ["Counter-Strike", "Day of Defeat", ""]
    assert data.item_text["description"][0] == ("Genres: Action. Tags: FPS, Shooter. Specs: Multi-player. "
                                                "Developer: Valve. Publisher: Valve.")
    assert data.item_text["description"][2] == ""
    assert data.item_categories == [["Action"], ["Action", "Strategy"], []]
    assert "sentiment" not in data.item_meta.columns and "metascore" not in data.item_meta.columns
    assert data.implicit and data.item_images is None


def test_bad_line_names_file_and_line(tmp_path):
    folder = write(tmp_path / "s1", users=[USERS[0], "{'user_id': 'carol', 'items': [oops]}"])
    with pytest.raises(DataError, match=r"australian_users_items\.json\.gz: line 2"):
        load_steam(folder)
    folder = write(tmp_path / "s2", users=[USERS[0], "{'user_id': 'carol', 'items_count': 0}"])
    with pytest.raises(DataError, match=r"line 2: missing field 'items'"):
        load_steam(folder)
    folder = write(tmp_path / "s3", users=["{'user_id': 'dan', 'items': [{'item_name': 'x'}]}"])
    with pytest.raises(DataError, match=r"line 1: an entry of 'items' lacks field 'item_id'"):
        load_steam(folder)
    folder = write(tmp_path / "s4", games=[GAMES[0], "{u'id': u'30', u'title': }"])
    with pytest.raises(DataError, match=r"steam_games\.json\.gz: line 2"):
        load_steam(folder)


def test_duplicates_can_be_reported(tmp_path):
    with pytest.raises(DataError, match="duplicate interaction"):
        load_steam(write(tmp_path / "steam"), duplicates="raise")


def test_offline_missing_files_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MMREC_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        ensure_steam(tmp_path / "nothing")
    message = str(err.value)
    assert "australian_users_items.json.gz" in message and str(tmp_path / "nothing") in message
