# The metadata of a pyworkers bundle (`pyworkers bundle`).
#
# A bundle is a tar archive holding `bundle.capnp.bin` (this message, standard serialisation), `src.tar` (the
# worker's files), with packages `site-packages.tar`, and with static assets `assets.tar`.
@0xa6f2d81c3b9e4f05;

struct Bundle {
  # "pyworkers-bundle".
  magic @0 :Text;
  formatVersion @1 :UInt32;
  # The Pyodide release and wheel platform tag the packages were chosen for.
  pyodideVersion @2 :Text;
  platform @3 :Text;
  # The pyworkers version that wrote it.
  pyworkersVersion @4 :Text;
  name @5 :Text;
  # The worker's top-level module.
  mainModule @6 :Text;
  # `vars` from the configuration: names and JSON values.
  vars @7 :List(Var);
  # `triggers.crons`.
  crons @8 :List(Text);
  packages @9 :List(Package);
  # SHA-256 of `src.tar` and of `site-packages.tar` (empty when there is none).
  sourcesSha256 @10 :Text;
  sitePackagesSha256 @11 :Text;
  # The configuration's bindings as `serve` reads them: `kv_namespaces`, `d1_databases`, `durable_objects`,
  # `migrations`, `queues`, `assets`, `compatibility_date` and `compatibility_flags` (those present), as one JSON
  # object; empty when the project declares no binding.
  bindingsJson @12 :Text;
  # SHA-256 of `assets.tar` (the files under `assets.directory`); empty when there is none.
  assetsSha256 @13 :Text;
}

struct Var {
  name @0 :Text;
  json @1 :Text;
}

struct Package {
  name @0 :Text;
  version @1 :Text;
  wheel @2 :Text;
  sha256 @3 :Text;
}
