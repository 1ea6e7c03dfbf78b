//! The names a person picks settings by (`--activation relu`, `--optimizer
//! adamw`, `--init he`): one enum each, spelt the same on the command line
//! (clap), in `config.json` (serde) and, for optimizers, in `optim`.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActivationName {
    Relu,
    Sigmoid,
    Tanh,
    LeakyRelu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerName {
    Sgd,
    Momentum,
    Nesterov,
    Adagrad,
    Adadelta,
    Rmsprop,
    Adam,
    #[value(name = "adamw")]
    #[serde(rename = "adamw")]
    AdamW,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitName {
    Auto,
    He,
    Xavier,
}

impl OptimizerName {
    pub fn as_str(self) -> &'static str {
        match self {
            OptimizerName::Sgd => "sgd",
            OptimizerName::Momentum => "momentum",
            OptimizerName::Nesterov => "nesterov",
            OptimizerName::Adagrad => "adagrad",
            OptimizerName::Adadelta => "adadelta",
            OptimizerName::Rmsprop => "rmsprop",
            OptimizerName::Adam => "adam",
            OptimizerName::AdamW => "adamw",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An optimizer's name is spelt in three places (clap's value, serde's
    /// in config.json, `as_str` for optim's constructor and messages): they
    /// must agree, and optim must know every one.
    #[test]
    fn optimizer_names_agree_between_flag_config_and_optim() {
        for &name in OptimizerName::value_variants() {
            let flag = name.to_possible_value().unwrap();
            assert_eq!(flag.get_name(), name.as_str());
            let json = serde_json::to_string(&name).unwrap();
            assert_eq!(json, format!("\"{}\"", name.as_str()));
            let built = optim::optimizer_by_name(name.as_str(), &optim::CommonSettings::default());
            assert_eq!(built.unwrap().state().kind, name.as_str());
        }
    }
}
