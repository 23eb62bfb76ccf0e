//! `jones schema`: the JSON Schema (draft 2020-12) every view of a service
//! must satisfy.

use serde_json::Value;

use crate::admin::parse_service;
use crate::api::Api;
use crate::cli::SchemaCommand;
use crate::error::{CliError, Result};
use crate::input::read_file_arg;
use crate::output::{outln, print_json};

pub fn schema(api: &Api, command: SchemaCommand, json: bool) -> Result<()> {
    match command {
        SchemaCommand::Get { service } => {
            parse_service(&service)?;
            let stored = api.schema(&service)?;
            print_json(&stored["schema"]);
        }
        SchemaCommand::Set { service, file } => {
            parse_service(&service)?;
            let text = read_file_arg(&file, "the schema")?;
            let schema: Value = serde_json::from_str(&text).map_err(|e| {
                CliError::invalid(format!("the schema in {file} is not valid JSON: {e}"))
            })?;
            let done = api.set_schema(&service, &schema)?;
            if json {
                print_json(&done);
            } else {
                outln!("set the schema of {service}: every view satisfies it");
            }
        }
        SchemaCommand::Rm { service } => {
            parse_service(&service)?;
            let done = api.remove_schema(&service)?;
            if json {
                print_json(&done);
            } else {
                outln!("removed the schema of {service}");
            }
        }
    }
    Ok(())
}
