"""What imagegate remembers between requests: the budget ledger, latency measurements, circuit
breakers and the job journal. Each concept's module holds its interface and what every store
shares; the stores live side by side in `imagegate.state.sqlite` (one machine; the default) and
`imagegate.state.redis` (many gateway instances); `imagegate.routing.stores` opens the ones a
policy names."""
