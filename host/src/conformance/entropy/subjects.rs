//! The implementations the `entropy` suite drives: the native [`crate::entropy::Entropy`] through the generated
//! host trait a component importing it calls, and a component through its exports.

use anyhow::Result;
use wasmtime::Store;

use super::{Entropy, Mode};
use crate::conformance::component::{ComponentFile, State};

mod bindings {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({ path: "../wit", world: "entropy-provider" });
}

use bindings::exports::pyworkers::runtime::entropy as export;

/// A fresh native instance: deterministic from the shared seed, as a snapshot's preparation starts.
pub fn native() -> Box<dyn Entropy> {
    Box::new(Native(crate::entropy::Entropy::deterministic(crate::entropy::SEED)))
}

struct Native(crate::entropy::Entropy);

impl Entropy for Native {
    fn fill(&mut self, len: u32) -> Result<Vec<u8>> {
        Ok(crate::bindings::entropy::Host::fill(&mut self.0, len))
    }

    fn current_mode(&mut self) -> Result<Mode> {
        Ok(crate::bindings::entropy::Host::current_mode(&mut self.0))
    }

    fn reseed(&mut self) -> Result<()> {
        crate::bindings::entropy::Host::reseed(&mut self.0);
        Ok(())
    }
}

/// Makes instances of one `entropy-provider` component.
pub struct ComponentEntropy<'a> {
    file: &'a ComponentFile,
    pre: bindings::EntropyProviderPre<State>,
}

/// Link `file` as an `entropy-provider`; fails if it does not export `entropy` with the WIT's types.
pub fn component(file: &ComponentFile) -> Result<ComponentEntropy<'_>> {
    let pre = bindings::EntropyProviderPre::new(file.pre()?).map_err(|e| file.not_a("entropy-provider", e))?;
    Ok(ComponentEntropy { file, pre })
}

impl ComponentEntropy<'_> {
    /// A fresh instance in a fresh store.
    pub fn instantiate(&self) -> Result<Box<dyn Entropy>> {
        let mut store = self.file.store();
        let instance = self.pre.instantiate(&mut store)?;
        Ok(Box::new(Instance { store, instance }))
    }
}

struct Instance {
    store: Store<State>,
    instance: bindings::EntropyProvider,
}

impl Entropy for Instance {
    fn fill(&mut self, len: u32) -> Result<Vec<u8>> {
        Ok(self.instance.pyworkers_runtime_entropy().call_fill(&mut self.store, len)?)
    }

    fn current_mode(&mut self) -> Result<Mode> {
        let mode = self.instance.pyworkers_runtime_entropy().call_current_mode(&mut self.store)?;
        Ok(match mode {
            export::Mode::Deterministic => Mode::Deterministic,
            export::Mode::Live => Mode::Live,
        })
    }

    fn reseed(&mut self) -> Result<()> {
        Ok(self.instance.pyworkers_runtime_entropy().call_reseed(&mut self.store)?)
    }
}
