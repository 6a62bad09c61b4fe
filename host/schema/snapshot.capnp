# The metadata and payload of a pyworkers memory snapshot.
#
# File layout: 8-byte magic "PYWSNAP\0", u32 little-endian format version, 4 zero bytes, the Cap'n Proto message below
# (standard serialisation), then the SHA-256 of everything before it. The magic and version are repeated inside
# the message so the message is self-describing.
@0xd3a1c0f4b2e56a97;

struct Snapshot {
  magic @0 :Text;
  formatVersion @1 :UInt32;
  kind @2 :Kind;
  # SHA-256 of the EH-converted Pyodide module the snapshot was taken from.
  pyodideSha256 @3 :Text;
  pyworkersVersion @4 :Text;
  # SHA-256 of the worker archive mounted while preparing (empty for a baseline).
  workerBundleSha256 @5 :Text;
  # The worker's top-level module (empty for a baseline).
  workerModule @6 :Text;
  # Where the worker archive was mounted.
  workerMount @7 :Text;
  hashSeed @8 :HashSeed;
  host @9 :HostState;
  memory @10 :Memory;
  # Every global of the instrumented module, by index.
  globals @11 :List(Global);
  # SHA-256 over the memory segments and globals as serialised here.
  payloadSha256 @12 :Text;
  # SHA-256 of the standard-library bytecode archive mounted while preparing (empty if none).
  stdlibBytecodeSha256 @13 :Text;
}

enum Kind {
  baseline @0;
  dedicated @1;
}

struct HashSeed {
  union {
    # Pinned with --hash-seed: reproducible, and public.
    pinned @0 :UInt32;
    # Drawn from live OS entropy when the snapshot was made: secret to whoever holds the file.
    perSnapshot @1 :Void;
  }
}

struct Memory {
  pages @0 :UInt32;
  segments @1 :List(Segment);
}

struct Segment {
  offset @0 :UInt32;
  data @1 :Data;
}

struct Global {
  union {
    i32 @0 :Int32;
    i64 @1 :Int64;
    f32 @2 :UInt32;
    f64 @3 :UInt64;
    keep @4 :Void;
  }
}

# State the host keeps outside linear memory.
struct HostState {
  cwd @0 :Text;
  environ @1 :List(Text);
  program @2 :Text;
  # Monotonic clock reading at capture, so a restored clock never runs backwards.
  monotonicNs @3 :UInt64;
  entropy @4 :Entropy;
  umask @5 :UInt32;
  memfs @6 :List(MemMount);
  fds @7 :List(Fd);
  # Index the call trampoline occupies in the function table.
  trampolineIndex @8 :UInt32;
  # Side modules the dynamic linker loaded, in load order, and what else it put in the table and the GOT.
  libraries @9 :List(Library);
  tableSlots @10 :List(TableSlot);
  got @11 :List(GotEntry);
}

# A side module (`.so`) loaded with dlopen: a restored instance instantiates it again at the same bases.
struct Library {
  name @0 :Text;
  sha256 @1 :Text;
  memoryBase @2 :UInt32;
  memorySize @3 :UInt32;
  tableBase @4 :UInt32;
  tableSize @5 :UInt32;
  global @6 :Bool;
  # Addresses of the `struct dso`s that name it.
  handles @7 :List(UInt32);
}

# A function the linker appended to the table (for dlsym or a GOT entry).
struct TableSlot {
  slot @0 :UInt32;
  # Load-order index of the library exporting it, or -1 for the main module.
  library @1 :Int32;
  symbol @2 :Text;
}

# A global offset table entry.
struct GotEntry {
  symbol @0 :Text;
  value @1 :Int32;
  resolved @2 :Bool;
}

struct Entropy {
  live @0 :Bool;
  seed @1 :Data;
  wordPos @2 :Data;
}

struct MemMount {
  path @0 :Text;
  limit @1 :UInt64;
  nodes @2 :List(MemNode);
}

struct MemNode {
  union {
    free @0 :Void;
    file @1 :Data;
    dir @2 :List(DirEntry);
    symlink @3 :Text;
  }
  mode @4 :UInt32;
  mtimeMs @5 :Float64;
  nlink @6 :UInt32;
}

struct DirEntry {
  name @0 :Text;
  node @1 :UInt32;
}

struct Fd {
  fd @0 :UInt32;
  path @1 :Text;
  flags @2 :Int32;
  pos @3 :UInt64;
  # Reopened by path at restore; only standard streams and memfs files survive a snapshot.
  stdio @4 :Int8;
}
