"""Form bodies: ``FormData``, the ``File``/``Blob`` values it holds, and parsing of urlencoded and multipart bodies.

Only ``Request.form_data()`` and ``Response.form_data()`` parse, so none of this runs unless a handler asks for it.
"""


class Blob:
    """Bytes with a media type, as the Fetch API's ``Blob``; ``bytes()`` and ``text()`` are awaitable like there."""

    __slots__ = ("_data", "content_type")

    def __init__(self, data=b"", content_type=""):
        if isinstance(data, str):
            data = data.encode()
        self._data = bytes(data)
        self.content_type = content_type

    @property
    def type(self):
        return self.content_type

    @property
    def size(self):
        return len(self._data)

    async def bytes(self):
        return self._data

    async def text(self):
        return self._data.decode("utf-8", "replace")

    async def array_buffer(self):
        return self._data

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size}, content_type={self.content_type!r})"


class File(Blob):
    """A ``Blob`` with a file name: what a multipart field with a ``filename`` becomes."""

    __slots__ = ("name",)

    def __init__(self, data=b"", name="", content_type=""):
        super().__init__(data, content_type)
        self.name = name

    @property
    def filename(self):
        return self.name

    def __repr__(self):
        return f"File(name={self.name!r}, size={self.size}, content_type={self.content_type!r})"


class FormData:
    """Form fields in order; a name may repeat. Values are ``str``, or ``File`` for uploaded files.

    ``get``/``[]`` give the first value, ``getall``/``get_all`` every one; ``items()``, ``keys()``, ``values()``
    list every entry.
    """

    __slots__ = ("_entries",)

    def __init__(self, init=None):
        self._entries = []
        if init is not None:
            pairs = init.items() if hasattr(init, "items") else init
            for name, value in pairs:
                self.append(name, value)

    def append(self, name, value):
        self._entries.append((str(name), value if isinstance(value, Blob) else str(value)))

    def set(self, name, value):
        self.delete(name)
        self.append(name, value)

    def delete(self, name):
        self._entries = [entry for entry in self._entries if entry[0] != name]

    def get(self, name, default=None):
        for key, value in self._entries:
            if key == name:
                return value
        return default

    def getall(self, name):
        return [value for key, value in self._entries if key == name]

    get_all = getall

    def has(self, name):
        return any(key == name for key, _ in self._entries)

    def items(self):
        return list(self._entries)

    def keys(self):
        return [key for key, _ in self._entries]

    def values(self):
        return [value for _, value in self._entries]

    def __contains__(self, name):
        return self.has(name)

    def __getitem__(self, name):
        for key, value in self._entries:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self):
        return iter(dict.fromkeys(key for key, _ in self._entries))

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"FormData({self._entries!r})"


def media_type(content_type):
    """``"Multipart/Form-Data; boundary=x"`` → ``("multipart/form-data", {"boundary": "x"})``."""
    head, _, rest = content_type.partition(";")
    return head.strip().lower(), _parameters(rest)


def _parameters(text):
    """``; a=1; b="x;y"`` → ``{"a": "1", "b": "x;y"}`` (names lower-case, quoted strings unescaped)."""
    params = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t;":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            break
        name = text[i:eq].strip().lower()
        i = eq + 1
        if i < n and text[i] == '"':
            value = []
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
            i += 1
            value = "".join(value)
        else:
            end = text.find(";", i)
            end = n if end < 0 else end
            value = text[i:end].strip()
            i = end
        if name:
            params[name] = value
    return params


def parse(body, content_type):
    """The ``FormData`` of a urlencoded or multipart ``body``; ``ValueError`` for any other content type."""
    kind, params = media_type(content_type or "")
    if kind == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qsl

        return FormData(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if kind == "multipart/form-data":
        boundary = params.get("boundary")
        if not boundary:
            raise ValueError("multipart/form-data body without a boundary parameter")
        return _parse_multipart(body, boundary.encode("latin-1"))
    raise ValueError(
        f"form_data() needs a multipart/form-data or application/x-www-form-urlencoded body, not {content_type!r}"
    )


def _parse_multipart(body, boundary):
    form = FormData()
    # Every delimiter but a body-initial one follows a CRLF; prefixing one makes them all alike (RFC 2046 §5.1.1).
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary)
    if len(chunks) < 2:
        raise ValueError("multipart body has no part delimited by its boundary")
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the close delimiter: what follows is epilogue
        line_end = chunk.find(b"\r\n")
        if line_end < 0:
            raise ValueError("multipart part without headers")
        head, sep, data = chunk[line_end + 2 :].partition(b"\r\n\r\n")
        if not sep:
            # A part with no headers at all starts with the empty line.
            if chunk[line_end + 2 :].startswith(b"\r\n"):
                head, data = b"", chunk[line_end + 4 :]
            else:
                raise ValueError("multipart part headers are not terminated by an empty line")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        disposition, params = media_type(headers.get("content-disposition", ""))
        if disposition != "form-data" or "name" not in params:
            continue
        if "filename" in params:
            form.append(params["name"], File(data, params["filename"], headers.get("content-type", "")))
        else:
            form.append(params["name"], data.decode("utf-8", "replace"))
    else:
        raise ValueError("multipart body is not closed by its final boundary")
    return form


def encode_multipart(form):
    """A ``FormData`` as a ``multipart/form-data`` body: ``(body, content_type)``."""
    import os

    boundary = "----pyworkers" + os.urandom(12).hex()
    out = []
    for name, value in form._entries:
        name = _quote(name)
        if isinstance(value, Blob):
            filename = _quote(value.name) if isinstance(value, File) else "blob"
            out.append(
                f'--{boundary}\r\ncontent-disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"content-type: {value.content_type or 'application/octet-stream'}\r\n\r\n".encode()
            )
            out.append(value._data)
        else:
            out.append(f'--{boundary}\r\ncontent-disposition: form-data; name="{name}"\r\n\r\n'.encode())
            out.append(value.encode())
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def _quote(text):
    # As browsers do (HTML's multipart/form-data encoding): escape the three characters a quoted name cannot hold.
    return text.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")
