//! A service's schema: every view must satisfy it (see `crate::schema`).

use jones_client::{ServiceLayout, ServiceName};
use serde_json::Value;

use super::Admin;
use crate::tree::read_service;
use crate::writer::WriteOutcome;
use crate::{Error, Result};

impl Admin {
    /// The schema of `service`, if it has one.
    pub async fn schema(&self, service: &ServiceName) -> Result<Option<Value>> {
        let layout = ServiceLayout::new(service.clone());
        let node = read_service(&self.zk, &layout)
            .await?
            .ok_or_else(|| Error::ServiceNotFound(service.clone()))?;
        Ok(node.schema.map(|s| s.schema))
    }

    /// Sets the JSON Schema (draft 2020-12) every view of `service` must
    /// satisfy from now on. Refused when it is not a schema
    /// ([`Error::InvalidInput`]) or a view breaks it
    /// ([`Error::SchemaViolation`], listing each); nothing written then.
    ///
    /// ```no_run
    /// # async fn demo(admin: jones_server::Admin) -> Result<(), jones_server::Error> {
    /// let svc = jones_client::ServiceName::new("web").unwrap();
    /// let schema = serde_json::json!({
    ///     "type": "object",
    ///     "properties": {"pool": {"type": "integer", "minimum": 1}}
    /// });
    /// admin.set_schema(&svc, schema).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_schema(&self, service: &ServiceName, schema: Value) -> Result<WriteOutcome> {
        self.write_schema(service, Some(schema)).await
    }

    /// Removes the schema of `service`.
    pub async fn remove_schema(&self, service: &ServiceName) -> Result<WriteOutcome> {
        if self.schema(service).await?.is_none() {
            return Err(Error::NoSchema(service.clone()));
        }
        self.write_schema(service, None).await
    }

    async fn write_schema(
        &self,
        service: &ServiceName,
        schema: Option<Value>,
    ) -> Result<WriteOutcome> {
        super::check_writable(service, None)?;
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let result = self.writer(&layout).set_schema(schema).await;
        self.after(service, &result).await;
        result
    }
}
