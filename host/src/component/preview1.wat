;; The shim's own WASI preview 1 imports (what its Rust `std` calls: stdout/stderr, clocks, randomness, exit),
;; answered over the component's WASI 0.2 imports, lowered into this module (module `wasi`). Only what the shim
;; uses: no files (its file system is the VFS), an empty environment, stdin at end of file.
;;
;; The lowered calls keep their buffers in the bridge's scratch memory `io` (return areas at 0, a write buffer at
;; 64), so nothing here allocates in the shim's own memory.
(module
  (import "bridge" "shim_memory" (memory $shim 0))
  (import "bridge" "io_memory" (memory $io 0))
  (import "wasi" "get-stdout" (func $get_stdout (result i32)))
  (import "wasi" "get-stderr" (func $get_stderr (result i32)))
  ;; [method]output-stream.blocking-write-and-flush(self, ptr, len, return area)
  (import "wasi" "blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
  (import "wasi" "monotonic-now" (func $monotonic_now (result i64)))
  ;; wall-clock.now(return area): seconds (u64) at 0, nanoseconds (u32) at 8
  (import "wasi" "wall-now" (func $wall_now (param i32)))
  (import "wasi" "get-random-u64" (func $random_u64 (result i64)))
  ;; exit(status: result): 0 is ok, 1 is err
  (import "wasi" "exit" (func $exit (param i32)))

  (global $stdout (mut i32) (i32.const 0))
  (global $stderr (mut i32) (i32.const 0))

  ;; WASI preview 1 errno values.
  (global $EBADF i32 (i32.const 8))
  (global $EINVAL i32 (i32.const 28))
  (global $EIO i32 (i32.const 29))

  (func $stream (param $fd i32) (result i32)
    (if (i32.eq (local.get $fd) (i32.const 1)) (then
      (if (i32.eqz (global.get $stdout)) (then (global.set $stdout (call $get_stdout))))
      (return (global.get $stdout))))
    (if (i32.eq (local.get $fd) (i32.const 2)) (then
      (if (i32.eqz (global.get $stderr)) (then (global.set $stderr (call $get_stderr))))
      (return (global.get $stderr))))
    (i32.const 0))

  (func (export "fd_write") (param $fd i32) (param $iovs i32) (param $count i32) (param $nwritten i32) (result i32)
    (local $handle i32) (local $ptr i32) (local $len i32) (local $chunk i32) (local $total i32)
    (local.set $handle (call $stream (local.get $fd)))
    (if (i32.eqz (local.get $handle)) (then (return (global.get $EBADF))))
    (block $done
      (loop $iovec
        (br_if $done (i32.eqz (local.get $count)))
        (local.set $ptr (i32.load $shim (local.get $iovs)))
        (local.set $len (i32.load $shim offset=4 (local.get $iovs)))
        ;; blocking-write-and-flush takes at most 4096 bytes a call.
        (block $written
          (loop $chunks
            (br_if $written (i32.eqz (local.get $len)))
            (local.set $chunk (select (local.get $len) (i32.const 4096) (i32.lt_u (local.get $len) (i32.const 4096))))
            (memory.copy $io $shim (i32.const 64) (local.get $ptr) (local.get $chunk))
            (call $write (local.get $handle) (i32.const 64) (local.get $chunk) (i32.const 0))
            (if (i32.load8_u $io (i32.const 0)) (then (return (global.get $EIO))))
            (local.set $ptr (i32.add (local.get $ptr) (local.get $chunk)))
            (local.set $len (i32.sub (local.get $len) (local.get $chunk)))
            (local.set $total (i32.add (local.get $total) (local.get $chunk)))
            (br $chunks)))
        (local.set $iovs (i32.add (local.get $iovs) (i32.const 8)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $iovec)))
    (i32.store $shim (local.get $nwritten) (local.get $total))
    (i32.const 0))

  (func (export "fd_read") (param $fd i32) (param $iovs i32) (param $count i32) (param $nread i32) (result i32)
    (i32.store $shim (local.get $nread) (i32.const 0))
    (i32.const 0))

  (func (export "fd_fdstat_get") (param $fd i32) (param $out i32) (result i32)
    (global.get $EBADF))

  (func (export "environ_sizes_get") (param $count i32) (param $size i32) (result i32)
    (i32.store $shim (local.get $count) (i32.const 0))
    (i32.store $shim (local.get $size) (i32.const 0))
    (i32.const 0))

  (func (export "environ_get") (param $environ i32) (param $buf i32) (result i32)
    (i32.const 0))

  (func (export "clock_time_get") (param $id i32) (param $precision i64) (param $out i32) (result i32)
    (if (i32.eqz (local.get $id)) (then
      (call $wall_now (i32.const 0))
      (i64.store $shim (local.get $out)
        (i64.add (i64.mul (i64.load $io (i32.const 0)) (i64.const 1000000000))
                 (i64.extend_i32_u (i32.load $io (i32.const 8)))))
      (return (i32.const 0))))
    (if (i32.eq (local.get $id) (i32.const 1)) (then
      (i64.store $shim (local.get $out) (call $monotonic_now))
      (return (i32.const 0))))
    (global.get $EINVAL))

  (func (export "random_get") (param $buf i32) (param $len i32) (result i32)
    (call $random (local.get $buf) (local.get $len))
    (i32.const 0))

  ;; The guest's randomness when the component imports no `entropy` component (the shim's `entropy` imports):
  ;; `fill` fills all of it from `wasi:random`, and there is nothing to reseed.
  (func (export "fill") (param $dst i32) (param $len i32) (result i32)
    (call $random (local.get $dst) (local.get $len))
    (local.get $len))
  (func (export "reseed"))

  (func $random (param $buf i32) (param $len i32)
    (local $word i64)
    (block $done
      (loop $words
        (br_if $done (i32.lt_u (local.get $len) (i32.const 8)))
        (i64.store $shim (local.get $buf) (call $random_u64))
        (local.set $buf (i32.add (local.get $buf) (i32.const 8)))
        (local.set $len (i32.sub (local.get $len) (i32.const 8)))
        (br $words)))
    (if (i32.eqz (local.get $len)) (then (return)))
    (local.set $word (call $random_u64))
    (block $tail
      (loop $bytes
        (br_if $tail (i32.eqz (local.get $len)))
        (i64.store8 $shim (local.get $buf) (local.get $word))
        (local.set $word (i64.shr_u (local.get $word) (i64.const 8)))
        (local.set $buf (i32.add (local.get $buf) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $bytes))))

  (func (export "proc_exit") (param $code i32)
    (call $exit (i32.ne (local.get $code) (i32.const 0)))
    unreachable)
)
