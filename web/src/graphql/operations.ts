// Every operation the client sends, in one place so codegen types them all and a schema change that
// breaks one fails `npm run build`.
import { graphql } from '../gql';

// Fields shown on a refinement card; the tree is rebuilt on the client from `parent.id`
// because GraphQL cannot select `children` to an unbounded depth.
export const RefinementFieldsDoc = graphql(`
  fragment RefinementFields on Refinement {
    id
    version
    depth
    generationIndex
    url
    width
    height
    type
    status
    prompt
    instructions
    summary
    costUsd
    errorMessage
    creativityLevel
    createdAt
    startedAt
    completedAt
    parent {
      id
      version
    }
  }
`);

// One page of the runs list, newest first.
export const RunsDoc = graphql(`
  query Runs($first: Int!, $after: String) {
    runs(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        cursor
        node {
          id
          status
          prompt
          platform
          createdAt
          totalCostUsd
          images {
            id
            url
            width
            height
          }
        }
      }
    }
  }
`);

// A run with its originals and one page (at most 100, the server's limit) of its flat refinements.
export const RunTreeDoc = graphql(`
  query RunTree($id: ID!, $after: String) {
    run(id: $id) {
      id
      status
      prompt
      platform
      createdAt
      completedAt
      errorMessage
      generationCostUsd
      refinementCostUsd
      totalCostUsd
      images {
        id
        version
        generationIndex
        url
        width
        height
      }
      refinements(first: 100, after: $after) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            ...RefinementFields
          }
        }
      }
    }
  }
`);

// Everything the details dialog shows about one refinement.
export const RefinementDetailsDoc = graphql(`
  query RefinementDetails($id: ID!) {
    refinement(id: $id) {
      ...RefinementFields
      mask {
        x
        y
        width
        height
      }
      referenceImageUrl
      parent {
        id
        version
        url
        width
        height
      }
      stages {
        name
        status
        startedAt
        completedAt
        durationMs
        costUsd
        message
      }
    }
  }
`);

// Catch-up for the progress view when the websocket is unavailable.
export const RefinementEventsDoc = graphql(`
  query RefinementEvents($id: ID!, $after: Int) {
    refinement(id: $id) {
      id
      status
      errorMessage
      events(after: $after) {
        ...ProgressEventFields
      }
    }
  }
`);

// The coded, field-addressed problems every mutation payload carries.
export const UserErrorFieldsDoc = graphql(`
  fragment UserErrorFields on UserError {
    field
    message
    code
  }
`);

// The progress fields both subscriptions and the polling fallback use.
export const ProgressEventFieldsDoc = graphql(`
  fragment ProgressEventFields on ProgressEvent {
    seq
    jobId
    stage
    status
    progress
    message
    costUsd
    previewUrl
    at
    terminal
  }
`);

// Starts the generation pipeline; the reference image goes as a multipart upload.
export const CreateRunDoc = graphql(`
  mutation CreateRun($input: CreateRunInput!) {
    createRun(input: $input) {
      run {
        id
        status
      }
      userErrors {
        ...UserErrorFields
      }
    }
  }
`);

// Makes a finished run from uploaded images.
export const ImportRunDoc = graphql(`
  mutation ImportRun($input: ImportRunInput!) {
    importRun(input: $input) {
      run {
        id
        status
      }
      userErrors {
        ...UserErrorFields
      }
    }
  }
`);

// Queues a refinement of an original or of another refinement.
export const RefineImageDoc = graphql(`
  mutation RefineImage($input: RefineImageInput!) {
    refineImage(input: $input) {
      refinement {
        id
        version
        status
      }
      userErrors {
        ...UserErrorFields
      }
    }
  }
`);

// Stops a queued or running refinement.
export const CancelRefinementDoc = graphql(`
  mutation CancelRefinement($id: ID!) {
    cancelRefinement(id: $id) {
      refinement {
        id
        status
      }
      userErrors {
        ...UserErrorFields
      }
    }
  }
`);

// Every event of a run and its refinements, used to keep the results page live.
export const RunProgressDoc = graphql(`
  subscription RunProgress($id: ID!) {
    runProgress(id: $id) {
      ...ProgressEventFields
    }
  }
`);

// Events of one refinement (recorded ones first), feeding the modal's progress bar.
export const RefinementProgressDoc = graphql(`
  subscription RefinementProgress($id: ID!) {
    refinementProgress(id: $id) {
      ...ProgressEventFields
    }
  }
`);

// The caller's use of each per-token limit (0 = unlimited), shown above the runs list.
export const MeDoc = graphql(`
  query Me {
    me {
      tokenId
      queuedThisMinute {
        used
        limit
      }
      activeJobs {
        used
        limit
      }
      spentTodayUsd {
        used
        limit
      }
      storageMb {
        used
        limit
      }
    }
  }
`);

// The caller's QUEUED and RUNNING jobs, for the jobs panel on every page.
export const ActiveJobsDoc = graphql(`
  query ActiveJobs {
    activeJobs {
      runs {
        id
        status
        prompt
        createdAt
      }
      refinements {
        id
        status
        version
        type
        generationIndex
        createdAt
        run {
          id
          prompt
        }
      }
    }
  }
`);

// Stops a run's generation (its refinements are not touched).
export const CancelRunDoc = graphql(`
  mutation CancelRun($id: ID!) {
    cancelRun(id: $id) {
      run {
        id
        status
      }
      userErrors {
        ...UserErrorFields
      }
    }
  }
`);
