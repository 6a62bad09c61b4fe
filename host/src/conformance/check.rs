//! Assertions for cases: like `assert!`, but a failing one returns the reason as an error instead of panicking,
//! so one broken property is one `FAIL` row and the suite carries on.

/// `check!(condition)` or `check!(condition, "why {}", args)`: fail the case unless `condition` holds.
macro_rules! check {
    ($cond:expr $(,)?) => {
        if !$cond {
            anyhow::bail!("not true: {}", stringify!($cond));
        }
    };
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            anyhow::bail!($($why)+);
        }
    };
}

/// `check_eq!(got, expected)` or `check_eq!(got, expected, "context {}", args)`.
macro_rules! check_eq {
    ($got:expr, $want:expr $(,)?) => {
        $crate::conformance::check::check_eq!($got, $want, "{}", stringify!($got))
    };
    ($got:expr, $want:expr, $($ctx:tt)+) => {
        match (&$got, &$want) {
            (got, want) => {
                if got != want {
                    anyhow::bail!("{}: got {:?}, expected {:?}", format_args!($($ctx)+), got, want);
                }
            }
        }
    };
}

/// `check_ne!(a, b)` or `check_ne!(a, b, "context")`: fail the case if the two are equal.
macro_rules! check_ne {
    ($a:expr, $b:expr $(,)?) => {
        $crate::conformance::check::check_ne!($a, $b, "{} and {}", stringify!($a), stringify!($b))
    };
    ($a:expr, $b:expr, $($ctx:tt)+) => {
        match (&$a, &$b) {
            (a, b) => {
                if a == b {
                    anyhow::bail!("{}: both are {:?}", format_args!($($ctx)+), a);
                }
            }
        }
    };
}

pub(crate) use {check, check_eq, check_ne};
