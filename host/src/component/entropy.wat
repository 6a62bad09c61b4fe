;; The guest's randomness from an imported `pyworkers:runtime/entropy` component (what `wac plug` replaces): the
;; shim's `entropy.fill(dst, len)` and `entropy.reseed()` over the interface's `fill` and `reseed`, lowered into
;; this module. `fill`'s list lands in the bridge's scratch memory (`io_realloc`: the second page, at most 65536
;; bytes, the interface's own limit per call) and is copied into the shim's memory.
(module
  (import "bridge" "shim_memory" (memory $shim 0))
  (import "bridge" "io_memory" (memory $io 0))
  ;; fill(len, return area): the list's pointer at 0, its length at 4
  (import "entropy" "fill" (func $fill (param i32 i32)))
  (import "entropy" "reseed" (func $reseed))
  (func (export "fill") (param $dst i32) (param $len i32) (result i32)
    (local $ptr i32) (local $got i32)
    (call $fill (local.get $len) (i32.const 0))
    (local.set $ptr (i32.load $io (i32.const 0)))
    (local.set $got (i32.load $io offset=4 (i32.const 0)))
    ;; More than asked for would overrun the shim's buffer.
    (if (i32.gt_u (local.get $got) (local.get $len)) (then unreachable))
    (memory.copy $shim $io (local.get $dst) (local.get $ptr) (local.get $got))
    (local.get $got))
  (func (export "reseed") (call $reseed)))
