import gzip
import struct

import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

from memae import InputError, MemAEDetector
from memae.data.idx import is_idx, read_idx
from memae.data.readers import TableLayout, read_data, read_labels


def write_idx(path, arr, compress=False):
    code = {np.uint8: 0x08, np.int32: 0x0C}[arr.dtype.type]
    dtype = ">i4" if code == 0x0C else np.uint8
    raw = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    raw += arr.astype(dtype).tobytes()
    (gzip.open if compress else open)(path, "wb").write(raw)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_images_and_labels(tmp_path, compress):
    imgs = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    write_idx(tmp_path / "img", imgs, compress)
    write_idx(tmp_path / "lab", np.array([3, 1, 4], np.uint8), compress)
    assert is_idx(tmp_path / "img")
    np.testing.assert_array_equal(read_idx(tmp_path / "img"), imgs[:, None])
    np.testing.assert_array_equal(read_data(tmp_path / "img").X, imgs[:, None])
    np.testing.assert_array_equal(read_labels(tmp_path / "lab"), [3, 1, 4])


def test_truncated_idx_is_refused(tmp_path):
    write_idx(tmp_path / "img", np.zeros((3, 4, 4), np.uint8))
    raw = (tmp_path / "img").read_bytes()
    (tmp_path / "img").write_bytes(raw[:-5])
    with pytest.raises(InputError, match="truncated"):
        read_idx(tmp_path / "img")


def test_real_mnist_idx_files(mnist_dir):
    mnist = mnist_dir
    X = read_idx(mnist / "t10k-images-idx3-ubyte.gz")
    y = read_idx(mnist / "t10k-labels-idx1-ubyte.gz")
    assert X.shape == (10000, 1, 28, 28) and X.dtype == np.uint8
    assert y.shape == (10000,) and set(np.unique(y)) == set(range(10))


def test_csv_with_header_and_label_column(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b,target\n1,2,0\n3,4.5,1\n")
    loaded = read_data(p, label_column="target")
    np.testing.assert_array_equal(loaded.X, [[1, 2], [3, 4.5]])
    np.testing.assert_array_equal(loaded.y, [0, 1])
    assert read_data(p, label_column="-1").X.shape == (2, 2)
    np.testing.assert_array_equal(read_labels(p, label_column="target"), [0, 1])


def test_csv_problems_are_named(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,kind\n1,x\n2,y\n")
    with pytest.raises(InputError, match="non-numeric column.*kind"):
        read_data(p)
    p.write_text("1,2\n3\n")
    with pytest.raises(InputError, match="row 2 has 1 fields"):
        read_data(p)
    p.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_data(p)
    p.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match="not a text table"):
        read_data(p)
    with pytest.raises(InputError, match="no column 'z'"):
        p.write_text("a,b\n1,2\n")
        read_data(p, label_column="z")


def test_npy_npz_and_mat_files(tmp_path):
    X = np.random.default_rng(0).random((5, 3))
    np.save(tmp_path / "x.npy", X)
    np.testing.assert_array_equal(read_data(tmp_path / "x.npy").X, X)
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(5))
    loaded = read_data(tmp_path / "d.npz")
    np.testing.assert_array_equal(loaded.y, np.arange(5))
    np.savez(tmp_path / "two.npz", a=X, b=X)
    with pytest.raises(InputError, match="pass --key"):
        read_data(tmp_path / "two.npz")
    assert read_data(tmp_path / "two.npz", key="b").X.shape == (5, 3)
    scipy.io.savemat(tmp_path / "v5.mat", {"X": X, "y": np.ones((5, 1))})
    loaded = read_data(tmp_path / "v5.mat")
    assert loaded.X.shape == (5, 3) and loaded.y.shape == (5,)
    with h5py.File(tmp_path / "v73.mat", "w") as f:  # v7.3 stores MATLAB's column-major transpose
        f["X"] = X.T
        f["y"] = np.ones((1, 5))
    loaded = read_data(tmp_path / "v73.mat")
    np.testing.assert_allclose(loaded.X, X)
    assert loaded.y.shape == (5,)


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_data(tmp_path / "missing.npy")
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    with pytest.raises(InputError, match="bad.npy"):
        read_data(tmp_path / "bad.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="object arrays"):
        read_data(tmp_path / "obj.npy")
    (tmp_path / "x.xyz").write_text("1")
    with pytest.raises(InputError, match="unknown data format"):
        read_data(tmp_path / "x.xyz")


def test_image_folder_with_class_subfolders(tmp_path):
    for cls, value in (("good", 10), ("bad", 200)):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(np.full((6, 8), value, np.uint8)).save(tmp_path / cls / f"{i}.png")
    loaded = read_data(tmp_path)
    assert loaded.X.shape == (4, 1, 6, 8)
    assert sorted(loaded.y) == ["bad", "bad", "good", "good"]
    assert loaded.ids[0] == "bad/0.png"
    resized = read_data(tmp_path, image_size=(4, 4), color=True)
    assert resized.X.shape == (4, 3, 4, 4)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "good" / "odd.png")
    with pytest.raises(InputError, match="--image-size"):
        read_data(tmp_path)
    (tmp_path / "good" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png"):
        read_data(tmp_path, image_size=(4, 4))


def test_parquet_table_with_categories(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"x": [1.0, 2.0, None], "kind": ["a", "b", "a"], "y": [0, 1, 0]}),
        tmp_path / "t.parquet",
    )
    with pytest.raises(InputError, match="one-hot"):
        read_data(tmp_path / "t.parquet", label_column="y")
    loaded = read_data(tmp_path / "t.parquet", label_column="y", one_hot=True)
    assert loaded.X.shape == (3, 3) and np.isnan(loaded.X[2, 0])
    np.testing.assert_array_equal(loaded.X[:, 1:], [[1, 0], [0, 1], [1, 0]])
    np.testing.assert_array_equal(loaded.y, [0, 1, 0])


def test_tables_are_read_as_users_write_them(tmp_path):
    from memae.data.readers import TableLayout

    X = np.arange(12, dtype=float).reshape(4, 3) / 2
    body = ["\n".join(",".join(f"{v:g}" for v in row) for row in X)]
    (tmp_path / "numeric_header.csv").write_text("0,1,2\n" + body[0] + "\n")  # pandas, no index
    indexed = "\n".join(f"{i}," + ",".join(f"{v:g}" for v in r) for i, r in enumerate(X))
    (tmp_path / "index.csv").write_text(",0,1,2\n" + indexed + "\n")  # pandas' default
    (tmp_path / "semi.csv").write_text("a;b;c\n" + body[0].replace(",", ";") + "\n")
    for name in ("numeric_header.csv", "index.csv", "semi.csv"):
        loaded = read_data(tmp_path / name)
        np.testing.assert_array_equal(loaded.X, X)
    assert read_data(tmp_path / "index.csv").ids == ["0", "1", "2", "3"]
    # headerless, the first row holding strings like every row (KDD as distributed)
    rows = [f"{i},tcp,{'http' if i % 2 else 'smtp'},{i * 10}" for i in range(6)]
    (tmp_path / "kdd.csv").write_text("\n".join(rows) + "\n")
    loaded = read_data(tmp_path / "kdd.csv", one_hot=True)
    assert loaded.X.shape == (6, 2 + 1 + 2)  # no row lost to a header
    with pytest.raises(InputError, match=r"column\(s\) 1, 2 \(0-based; the file has no header"):
        read_data(tmp_path / "kdd.csv")
    laid = TableLayout(header=False, id_column="0", drop_columns=("1", "2"))
    loaded = read_data(tmp_path / "kdd.csv", table=laid)
    assert loaded.ids == [str(i) for i in range(6)] and loaded.X[:, 0].tolist() == [
        0,
        10,
        20,
        30,
        40,
        50,
    ]
    assert read_data(tmp_path / "numeric_header.csv", table=TableLayout(header=False)).X.shape == (
        5,
        3,
    )
    (tmp_path / "ragged.csv").write_text("a;b\n1;2\n3\n")
    with pytest.raises(InputError, match="delimiter ';'"):
        read_data(tmp_path / "ragged.csv")


def test_binary_readers_refuse_what_they_cannot_read(tmp_path):
    np.save(tmp_path / "complex.npy", np.ones((4, 2), complex))
    with pytest.raises(InputError, match="complex"):
        MemAEDetector(epochs=1).fit(read_data(tmp_path / "complex.npy").X)
    (tmp_path / "noise.npy").write_bytes(np.random.default_rng(0).bytes(200))
    with pytest.raises(InputError, match="not a .npy file"):
        read_data(tmp_path / "noise.npy")
    good = gzip.compress(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x04" + bytes(range(4)))
    broken = good[:12] + bytes(b ^ 0xFF for b in good[12:20]) + good[20:]
    (tmp_path / "labels-idx1-ubyte.gz").write_bytes(broken)
    with pytest.raises(InputError, match="cannot read"):
        read_data(tmp_path / "labels-idx1-ubyte.gz")


TABLES = {
    "header": ("a,b,c\n1,2,3\n4.5,5,-6e2\n7,8,9\n", {}),
    "no header": ("1,2,3\n4,5,6\n7,8,9\n", {}),
    "pandas index": (",a,b\n0,1.5,2\n1,3,4\n2,5,6\n", {}),
    "id and label": (
        "id;x;y;label\nr1;1;2;cat\nr2;3;4;dog\nr3;5;6;cat\n",
        {"label_column": "label"},
    ),
    "numeric label": ("x\ty\tk\n1\t2\t0\n3\t4\t1\n5\t6\t0\n", {"label_column": "k"}),
    "dropped": ("t,x,y\n9,1,2\n8,3,4\n7,5,6\n", {"table": TableLayout(drop_columns=("t",))}),
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_columnar_reader_reads_numeric_tables_as_the_general_one(tmp_path, name):
    pytest.importorskip("pyarrow")
    from memae.data.columnar import read_numeric
    from memae.data.readers import read_table

    text, options = TABLES[name]
    path = tmp_path / ("t.tsv" if "\t" in text else "t.csv")
    path.write_text(text)
    layout = options.get("table", TableLayout())
    if name == "id and label":
        layout = TableLayout(id_column="id")
    label = options.get("label_column")
    fast = read_numeric(path, label, layout, None)
    assert fast is not None  # these all take the fast path
    slow = read_table(path, label, layout=layout)
    assert fast.X.dtype == np.float32
    np.testing.assert_array_equal(fast.X, slow.X.astype(np.float32))
    assert fast.ids == slow.ids and fast.encoding == slow.encoding
    if slow.y is None:
        assert fast.y is None
    else:
        np.testing.assert_array_equal(fast.y, slow.y)


def test_tables_the_columnar_reader_cannot_take_go_to_the_general_one(tmp_path):
    pytest.importorskip("pyarrow")
    from memae.data.columnar import read_numeric

    cases = {
        "text.csv": "a,b\n1,x\n2,y\n",  # a category column: one-hot or an error, as before
        "ragged.csv": "a,b\n1,2\n3\n",
        "bool.csv": "a,b\n1,true\n2,false\n",
        "na.csv": "a,b\n1,NA\n2,3\n",  # R's missing value is text to the general reader
        "blank.csv": "\n0,1\n5,6\n7,8\n",  # a leading blank line before pandas' header
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        assert read_numeric(tmp_path / name, None, TableLayout(), None) is None, name
    with pytest.raises(InputError, match="row 3 has 1 fields"):
        read_data(tmp_path / "ragged.csv")
    with pytest.raises(InputError, match="non-numeric column"):
        read_data(tmp_path / "text.csv")
    assert read_data(tmp_path / "text.csv", one_hot=True).X.shape == (2, 3)
    with pytest.raises(InputError, match="non-numeric column"):
        read_data(tmp_path / "na.csv")
    assert read_data(tmp_path / "blank.csv").X.shape == (2, 2)  # the header is not a row
    (tmp_path / "spaced.csv").write_text("x, y, label\n1, 2, 0\n3, 4, 1\n")
    spaced = read_data(tmp_path / "spaced.csv", label_column=" label")
    np.testing.assert_array_equal(spaced.y, [0.0, 1.0])  # numbers, as float() reads them


def test_an_npy_is_memory_mapped_and_trains_from_the_file(tmp_path):
    X = np.random.default_rng(0).normal(size=(400, 5))  # float64 on disk
    np.save(tmp_path / "x.npy", X)
    loaded = read_data(tmp_path / "x.npy")
    assert isinstance(loaded.X, np.memmap)
    params = {"epochs": 2, "random_state": 0, "threads": 1}
    mapped = MemAEDetector(**params).fit(loaded.X)
    in_memory = MemAEDetector(**params).fit(X.astype(np.float32))
    np.testing.assert_array_equal(mapped.decision_scores_, in_memory.decision_scores_)
