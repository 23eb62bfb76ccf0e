//! `jones account`: the server's accounts. `add` prints the new token once
//! (the server keeps only its hash), `ls` lists names and roles, `rm`
//! removes an account so that every server refuses its token.

use serde_json::{Value, json};

use crate::api::Api;
use crate::cli::AccountCommand;
use crate::error::Result;
use crate::output::{items, outln, print_json};

pub fn account(api: &Api, command: AccountCommand, json: bool) -> Result<()> {
    match command {
        AccountCommand::Add {
            name,
            role,
            services,
        } => {
            let grants = grants(role.as_str(), &services);
            let created = api.create_account(&name, &grants)?;
            if json {
                print_json(&created);
                return Ok(());
            }
            outln!("{}", created["token"].as_str().unwrap_or_default());
            eprintln!(
                "created account {name} ({}); the token above is shown only now and will not be \
                 shown again: keep it safe",
                roles_text(&created)
            );
        }
        AccountCommand::Ls => {
            let list = api.accounts()?;
            if json {
                print_json(&list);
                return Ok(());
            }
            let rows: Vec<[String; 3]> = items(&list, "accounts")
                .into_iter()
                .map(|a| {
                    let name = a["name"].as_str().unwrap_or("?").to_owned();
                    match a["problem"].as_str() {
                        Some(problem) => [name, format!("(unreadable: {problem})"), String::new()],
                        None => [
                            name,
                            roles_text(a),
                            a["created"].as_str().unwrap_or_default().to_owned(),
                        ],
                    }
                })
                .collect();
            outln!("{}", table(&rows));
        }
        AccountCommand::Rm { name } => {
            let removed = api.delete_account(&name)?;
            if json {
                print_json(&removed);
            } else {
                outln!("removed account {name}");
            }
        }
    }
    Ok(())
}

/// One grant of `role` per service; none named: one on every service.
fn grants(role: &str, services: &[String]) -> Vec<Value> {
    match services {
        [] => vec![json!({"role": role, "service": null})],
        _ => services
            .iter()
            .map(|s| json!({"role": role, "service": s}))
            .collect(),
    }
}

/// `editor on checkout, viewer on every service`.
fn roles_text(account: &Value) -> String {
    items(account, "grants")
        .into_iter()
        .map(|g| {
            let role = g["role"].as_str().unwrap_or("?");
            match g["service"].as_str() {
                Some(s) => format!("{role} on {s}"),
                None => format!("{role} on every service"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows under a `NAME  ROLES  CREATED` head, in aligned columns.
fn table(rows: &[[String; 3]]) -> String {
    let head = ["NAME".to_owned(), "ROLES".to_owned(), "CREATED".to_owned()];
    let all: Vec<&[String; 3]> = std::iter::once(&head).chain(rows).collect();
    let width = |i: usize| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    all.iter()
        .map(|r| {
            format!("{:w0$}  {:w1$}  {}", r[0], r[1], r[2])
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grant_per_service_or_one_global() {
        assert_eq!(
            grants("viewer", &[]),
            vec![json!({"role": "viewer", "service": null})]
        );
        assert_eq!(
            grants("editor", &["a".into(), "b".into()]),
            vec![
                json!({"role": "editor", "service": "a"}),
                json!({"role": "editor", "service": "b"})
            ]
        );
    }

    #[test]
    fn roles_read_as_words_and_line_up() {
        let account = json!({"name": "ci", "grants": [
            {"role": "editor", "service": "checkout"}, {"role": "viewer", "service": null}]});
        assert_eq!(
            roles_text(&account),
            "editor on checkout, viewer on every service"
        );
        let text = table(&[
            [
                "ci".into(),
                "viewer on every service".into(),
                "2026-12-07T12:00:00.000Z".into(),
            ],
            ["alice-long".into(), "admin on x".into(), "t".into()],
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME        ROLES                    CREATED");
        assert_eq!(lines[2], "alice-long  admin on x               t");
    }
}
