"""The job core: a job's status and lifecycle, who may see and touch it, the feed rule, its
events and its ETA. Resolvers, dispatch and the real-time streams all ask these modules;
none of them states a rule of its own."""
