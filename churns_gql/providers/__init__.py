"""churns_gql."""
