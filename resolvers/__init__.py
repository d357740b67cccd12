"""The client view: graphene types and resolvers, by domain."""
