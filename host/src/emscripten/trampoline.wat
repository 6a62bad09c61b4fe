;; CPython on Emscripten calls C function pointers through a trampoline so that a function declared with fewer
;; parameters than the call site passes can still be called (wasm's call_indirect traps on a signature mismatch).
;; `trampoline_call(ok, f, a, b, c)` tests the callee's type and calls it with as many arguments as it takes;
;; if no arity fits it clears `*ok` so CPython can raise SystemError.
(module
  (type $args3 (func (param i32 i32 i32) (result i32)))
  (type $args2 (func (param i32 i32) (result i32)))
  (type $args1 (func (param i32) (result i32)))
  (type $args0 (func (result i32)))
  (import "env" "memory" (memory 0))
  (import "env" "__indirect_function_table" (table $fns 0 funcref))
  (func (export "trampoline_call") (param $ok i32) (param $f i32) (param $a i32) (param $b i32) (param $c i32) (result i32)
    (local $callee funcref)
    (i32.store (local.get $ok) (i32.const 1))
    (local.set $callee (table.get $fns (local.get $f)))
    (if (ref.test (ref $args3) (local.get $callee))
      (then (return (call_indirect $fns (type $args3) (local.get $a) (local.get $b) (local.get $c) (local.get $f)))))
    (if (ref.test (ref $args2) (local.get $callee))
      (then (return (call_indirect $fns (type $args2) (local.get $a) (local.get $b) (local.get $f)))))
    (if (ref.test (ref $args1) (local.get $callee))
      (then (return (call_indirect $fns (type $args1) (local.get $a) (local.get $f)))))
    (if (ref.test (ref $args0) (local.get $callee))
      (then (return (call_indirect $fns (type $args0) (local.get $f)))))
    (i32.store (local.get $ok) (i32.const 0))
    (i32.const 0)))
