"""HTTP header lists: the ``Headers`` type of requests and responses.

Names are case-insensitive and kept lower-case (as the Fetch API exposes them, and as the host delivers them);
repeated names stay separate entries in arrival order, so ``set-cookie`` and friends survive. The entries are a
plain list of ``(name, value)`` tuples because that is exactly what the host's protocol carries: a response's
headers go to the host without being copied.
"""


def _check(text, what):
    # A CR or LF would let a value start a header (or a body) of its own.
    if "\r" in text or "\n" in text or "\0" in text:
        raise ValueError(f"invalid header {what} {text!r}: it contains CR, LF or NUL")
    return text


class Headers:
    """Case-insensitive, multi-valued HTTP headers.

    ``Headers({"a": "1"})``, ``Headers([("a", "1"), ("a", "2")])`` or ``Headers(other)``. ``get`` and ``[]`` join
    repeated values with ``", "`` (as the Fetch API does); ``getall``/``get_all`` return them one by one;
    ``items()``, ``keys()`` and ``values()`` list every entry, repeats included.
    """

    __slots__ = ("_list",)

    def __init__(self, init=None):
        self._list = []
        if init is None:
            return
        if isinstance(init, Headers):
            self._list = list(init._list)
            return
        pairs = init.items() if hasattr(init, "items") else init
        for pair in pairs:
            name, value = pair
            self.append(name, value)

    @classmethod
    def _from_list(cls, entries):
        """Adopt a list of ``(lower-case name, value)`` tuples the host already checked, without copying."""
        headers = cls.__new__(cls)
        headers._list = entries
        return headers

    def append(self, name, value):
        """Add an entry, keeping any already there for ``name``."""
        self._list.append((_check(str(name).lower(), "name"), _check(str(value), "value")))

    def set(self, name, value):
        """Replace every entry for ``name`` with one."""
        name = _check(str(name).lower(), "name")
        entries = [entry for entry in self._list if entry[0] != name]
        entries.append((name, _check(str(value), "value")))
        self._list = entries

    def delete(self, name):
        """Remove every entry for ``name`` (no error if there is none)."""
        name = str(name).lower()
        self._list = [entry for entry in self._list if entry[0] != name]

    def get(self, name, default=None):
        """The value of ``name``, repeated values joined with ``", "``; ``default`` when absent."""
        name = name.lower()
        found = None
        for key, value in self._list:
            if key == name:
                found = value if found is None else f"{found}, {value}"
        return default if found is None else found

    def getall(self, name):
        """Every value of ``name``, in order (an empty list when absent)."""
        name = name.lower()
        return [value for key, value in self._list if key == name]

    get_all = getall

    def has(self, name):
        return self.get(name) is not None

    def items(self):
        return list(self._list)

    def keys(self):
        return [key for key, _ in self._list]

    def values(self):
        return [value for _, value in self._list]

    def __contains__(self, name):
        return isinstance(name, str) and self.get(name) is not None

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name, value):
        self.set(name, value)

    def __delitem__(self, name):
        if name not in self:
            raise KeyError(name)
        self.delete(name)

    def __iter__(self):
        return iter(dict.fromkeys(key for key, _ in self._list))

    def __len__(self):
        return len(self._list)

    def __bool__(self):
        return bool(self._list)

    def __eq__(self, other):
        if isinstance(other, Headers):
            return self._list == other._list
        return NotImplemented

    def __repr__(self):
        return f"Headers({self._list!r})"
